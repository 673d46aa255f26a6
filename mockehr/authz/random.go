package authz

import (
	"crypto/rand"
	"encoding/base64"
)

// randomHandle returns n random bytes, base64url without padding. Tokens and
// codes use 32 bytes (256 bits, 43 characters).
func randomHandle(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand docs, Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// codeCrypto is the op.Crypto given to zitadel. zitadel only uses it, in our
// setup, to mint authorization codes (op.BuildAuthRequestCode); our codes are
// random handles mapped to the auth request by storage.SaveAuthCode, so
// Encrypt ignores its input and Decrypt never succeeds (access tokens are
// never zitadel-encrypted: our overrides resolve them through the token store).
type codeCrypto struct{}

func (codeCrypto) Encrypt(string) (string, error) { return randomHandle(32), nil }
func (codeCrypto) Decrypt(string) (string, error) { return "", errNotDecryptable }

type constError string

func (e constError) Error() string { return string(e) }

const errNotDecryptable = constError("authz: values are random handles, not encrypted")
