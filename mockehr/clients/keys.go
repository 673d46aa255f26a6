package clients

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// selectKey finds the one registered key that may have signed the
// assertion (SMART client-confidential-asymmetric §signature verification,
// checklist BES-08, BES-13).
func (v *AssertionVerifier) selectKey(ctx context.Context, c *Client, hdr jose.Header, alg jose.SignatureAlgorithm) (*jose.JSONWebKey, error) {
	jku := ""
	if raw, ok := hdr.ExtraHeaders["jku"]; ok {
		s, isString := raw.(string)
		if !isString || s == "" {
			return nil, invalidClient("client_assertion jku header must be a URL string")
		}
		jku = s
	}
	if jku != "" && (c.JWKSURL == "" || jku != c.JWKSURL) { // BES-13
		registered := c.JWKSURL
		if registered == "" {
			registered = "none (the client has an inline JWKS)"
		}
		return nil, invalidClient(fmt.Sprintf("client_assertion jku %q does not match the registered JWKS URL: %s", jku, registered))
	}

	useURL := jku != "" || len(c.JWKS) == 0
	if !useURL {
		set, err := v.inlineSet(c.JWKS)
		if err != nil {
			return nil, invalidClient(fmt.Sprintf("client %q has an unusable JWKS: %v", c.ID, err))
		}
		return pickKey(set, hdr.KeyID, alg)
	}
	if c.JWKSURL == "" {
		return nil, invalidClient(fmt.Sprintf("client %q has no registered keys", c.ID))
	}
	set, cached, err := v.fetcher.get(ctx, c.JWKSURL, false)
	if err != nil {
		return nil, invalidClient(err.Error())
	}
	key, err := pickKey(set, hdr.KeyID, alg)
	var ae *AuthError
	if cached && errors.As(err, &ae) && errors.Is(ae.Err, errUnknownKid) {
		// The client may have rotated keys since we cached the set: refetch once.
		if set, _, err = v.fetcher.get(ctx, c.JWKSURL, true); err != nil {
			return nil, invalidClient(err.Error())
		}
		key, err = pickKey(set, hdr.KeyID, alg)
	}
	return key, err
}

func (v *AssertionVerifier) inlineSet(raw json.RawMessage) (*jose.JSONWebKeySet, error) {
	k := string(raw)
	v.inlineMu.Lock()
	set, ok := v.inline[k]
	v.inlineMu.Unlock()
	if ok {
		return set, nil
	}
	set, err := ParseJWKS(raw)
	if err != nil {
		return nil, err
	}
	v.inlineMu.Lock()
	if len(v.inline) >= inlineCacheEntries {
		clear(v.inline)
	}
	v.inline[k] = set
	v.inlineMu.Unlock()
	return set, nil
}

var errUnknownKid = errors.New("unknown kid")

// pickKey finds the key named kid (Verify has refused an assertion without
// one) that can verify alg.
func pickKey(set *jose.JSONWebKeySet, kid string, alg jose.SignatureAlgorithm) (*jose.JSONWebKey, error) {
	candidates := set.Key(kid)
	if len(candidates) == 0 {
		return nil, &AuthError{Code: CodeInvalidClient, Description: fmt.Sprintf("client_assertion kid %q matches no registered key", kid), Err: errUnknownKid}
	}
	var fit []jose.JSONWebKey
	var why string
	for _, k := range candidates {
		if reason := incompatible(k, alg); reason != "" {
			why = reason
			continue
		}
		fit = append(fit, k)
	}
	switch len(fit) {
	case 1:
		return &fit[0], nil
	case 0:
		return nil, invalidClient(fmt.Sprintf("key %q cannot verify %s: %s", kid, alg, why))
	default:
		return nil, invalidClient(fmt.Sprintf("%d registered keys share kid %q and could verify %s; kids must be unique", len(fit), kid, alg))
	}
}

// incompatible says why k cannot verify alg ("" when it can): kty must
// match alg, EC curves must match, and a key's own alg/use must allow it.
func incompatible(k jose.JSONWebKey, alg jose.SignatureAlgorithm) string {
	if k.Use != "" && k.Use != "sig" {
		return fmt.Sprintf("its use is %q", k.Use)
	}
	if k.Algorithm != "" && k.Algorithm != string(alg) {
		return fmt.Sprintf("it is registered for alg %s", k.Algorithm)
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		if alg != jose.RS256 && alg != jose.RS384 {
			return "its kty RSA is inconsistent with alg " + string(alg)
		}
	case *ecdsa.PublicKey:
		want := map[jose.SignatureAlgorithm]elliptic.Curve{jose.ES256: elliptic.P256(), jose.ES384: elliptic.P384()}[alg]
		if want == nil {
			return "its kty EC is inconsistent with alg " + string(alg)
		}
		if pub.Curve != want {
			return fmt.Sprintf("its curve %s does not fit alg %s", pub.Curve.Params().Name, alg)
		}
	default:
		return "it is not an RSA or EC public key"
	}
	return ""
}
