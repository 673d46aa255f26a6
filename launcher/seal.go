package launcher

import (
	"bytes"
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// sealVersion is the first byte of every sealed value. A new format gets a
// new byte; opening checks it before anything else.
const sealVersion byte = 1

// Purposes bind a sealed value to where it may be used (the GCM additional
// data), so a launch code never opens as a scenario id or the reverse.
const (
	purposeLaunch   = "launch"
	purposeScenario = "scenario"
)

const (
	nonceSize = 12
	tagSize   = 16
	// maxSealed bounds what Open accepts before any work: a launch is at
	// most a 64 KiB request, and deflate only shrinks JSON.
	maxSealed = 96 << 10
	// maxPlain bounds inflation even though only authenticated input (which
	// we sealed ourselves) is ever inflated.
	maxPlain = 256 << 10
)

var errSeal = errors.New("launcher: sealed value is malformed or was not sealed with this key")

// sealer encrypts launches with AES-256-GCM. The nonce is synthetic
// (HMAC-SHA256 of purpose and plaintext, truncated): sealing the same launch
// twice gives the same string, so FHIRBase is a pure function of a launch and
// every instance sharing the key derives the same /sim/{scenario} base. Since
// every launch carries a fresh random id, two different plaintexts never
// share a nonce in practice, and equal plaintexts reveal only their equality.
type sealer struct {
	aead     cipher.AEAD
	nonceKey []byte
}

func newSealer(secret []byte) (*sealer, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("launcher: sealing secret is %d bytes, need at least 32", len(secret))
	}
	encKey := derive(secret, "ehrsim launch seal v1 aes-256-gcm")
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, nonceKey: derive(secret, "ehrsim launch seal v1 nonce")}, nil
}

func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// aad is the GCM additional data: format version and purpose.
func aad(purpose string) []byte { return append([]byte{sealVersion}, "ehrsim:"+purpose...) }

var flatePool = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

var inflatePool = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// inflate decompresses at most maxPlain+1 bytes with a pooled reader (a new
// flate reader allocates ~40 KB, which dominated Open).
func inflate(z []byte) ([]byte, error) {
	r := inflatePool.Get().(io.ReadCloser)
	defer inflatePool.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(z), nil); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(4 * len(z))
	_, err := buf.ReadFrom(io.LimitReader(r, maxPlain+1))
	return buf.Bytes(), err
}

// seal returns base64url(version || nonce || GCM(deflate(json(l)))).
func (s *sealer) seal(l *Launch, purpose string) (string, error) {
	js, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	var z bytes.Buffer
	w := flatePool.Get().(*flate.Writer)
	w.Reset(&z)
	w.Write(js)
	err = w.Close()
	flatePool.Put(w)
	if err != nil {
		return "", err
	}
	ad := aad(purpose)
	m := hmac.New(sha256.New, s.nonceKey)
	m.Write(ad)
	m.Write(z.Bytes())
	nonce := m.Sum(nil)[:nonceSize]

	out := make([]byte, 1, 1+nonceSize+z.Len()+tagSize)
	out[0] = sealVersion
	out = append(out, nonce...)
	out = s.aead.Seal(out, nonce, z.Bytes(), ad)
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// open reverses seal. Every failure (bad base64, wrong version, tampering,
// wrong key, wrong purpose) is errSeal: callers report "unknown launch".
func (s *sealer) open(v, purpose string) (*Launch, error) {
	if len(v) == 0 || len(v) > maxSealed {
		return nil, errSeal
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(raw) < 1+nonceSize+tagSize || raw[0] != sealVersion {
		return nil, errSeal
	}
	z, err := s.aead.Open(nil, raw[1:1+nonceSize], raw[1+nonceSize:], aad(purpose))
	if err != nil {
		return nil, errSeal
	}
	js, err := inflate(z)
	if err != nil || len(js) > maxPlain {
		return nil, errSeal
	}
	var l Launch
	if err := json.Unmarshal(js, &l); err != nil {
		return nil, errSeal
	}
	return &l, nil
}
