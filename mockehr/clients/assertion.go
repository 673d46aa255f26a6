package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// JWTBearerAssertionType is the only client_assertion_type SMART uses
// (RFC 7523 §2.2).
const JWTBearerAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionAlgorithms are the accepted client assertion algorithms: SMART
// requires RS384 and ES384 (checklist BES-15); RS256 and ES256 are common
// in client libraries. No HMAC, no "none", no PSS.
var AssertionAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.ES256, jose.ES384}

const (
	defaultLeeway      = 30 * time.Second
	defaultMaxLifetime = 5 * time.Minute // SMART client-confidential-asymmetric: exp at most 5 minutes ahead
	maxAssertionLen    = 16 << 10
	maxJTILen          = 256
	inlineCacheEntries = 256
)

// AssertionVerifier authenticates clients by private_key_jwt (RFC 7523 §3
// with the SMART rules; see doc.go for why zitadel's verifier is not used).
// Set the exported fields, then call Verify from any number of goroutines.
type AssertionVerifier struct {
	Registry *Registry
	// TokenURL returns the token endpoint URL the assertion's aud must name
	// (checklist BES-09). Required.
	TokenURL func() string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// JWKSPolicy says which addresses JWKS URLs may be fetched from (see
	// JWKSPolicy and JWKSPolicyForListen). nil allows loopback and private
	// networks, the local developer case; link-local, cloud metadata,
	// unspecified, multicast and broadcast addresses are refused whatever
	// the policy.
	JWKSPolicy *JWKSPolicy
	// Leeway tolerates clock skew on exp/nbf; zero means 30 s.
	Leeway time.Duration
	// MaxLifetime bounds exp - now; zero means 5 minutes (BES-10).
	MaxLifetime time.Duration

	// lookupIP and dial replace the resolver and dialer of JWKS fetches (tests).
	lookupIP lookupFunc
	dial     dialFunc

	once    sync.Once
	jtis    *jtiStore
	fetcher *jwksFetcher

	inlineMu sync.Mutex
	inline   map[string]*jose.JSONWebKeySet // raw inline JWKS → parsed
}

func (v *AssertionVerifier) init() {
	v.once.Do(func() {
		if v.Now == nil {
			v.Now = time.Now
		}
		if v.Leeway == 0 {
			v.Leeway = defaultLeeway
		}
		if v.MaxLifetime == 0 {
			v.MaxLifetime = defaultMaxLifetime
		}
		policy := defaultJWKSPolicy
		if v.JWKSPolicy != nil {
			policy = *v.JWKSPolicy
		}
		v.jtis = newJTIStore(v.Registry.db)
		v.fetcher = &jwksFetcher{client: newJWKSHTTPClient(policy, v.lookupIP, v.dial), now: v.Now, cache: map[string]cachedJWKS{}}
		v.inline = map[string]*jose.JSONWebKeySet{}
	})
}

// assertionClaims are the RFC 7523 §3 claims SMART requires (iat is not
// required: SMART clients such as client-js do not send it).
type assertionClaims struct {
	Iss string       `json:"iss"`
	Sub string       `json:"sub"`
	Aud audience     `json:"aud"`
	Exp *numericDate `json:"exp"`
	Nbf *numericDate `json:"nbf"`
	Jti string       `json:"jti"`
}

// Verify authenticates the client of a token request carrying
// client_assertion_type / client_assertion. clientIDParam is the request's
// client_id parameter ("" when absent). adhoc, when not nil, is a client
// defined by the launch (sandbox mode) and is used instead of the registry
// when iss names it. It returns the authenticated client, or an *AuthError.
type tokenURLKey struct{}

// WithTokenURL names the token endpoint a request was posted to, when it is
// not TokenURL's: a scenario's own token endpoint (/sim/{scenario}/auth/token,
// advertised by that scenario's discovery). An assertion's aud must name the
// endpoint it was sent to (BES-09).
func WithTokenURL(ctx context.Context, url string) context.Context {
	return context.WithValue(ctx, tokenURLKey{}, url)
}

func (v *AssertionVerifier) Verify(ctx context.Context, assertionType, assertion, clientIDParam string, adhoc *Client) (*Client, error) {
	if v.Registry == nil || v.TokenURL == nil {
		return nil, errors.New("clients: AssertionVerifier needs Registry and TokenURL")
	}
	v.init()
	if assertionType != JWTBearerAssertionType {
		// BES-06: invalid_request → 400 (g10 requires exactly 400).
		return nil, &AuthError{Code: CodeInvalidRequest, Description: fmt.Sprintf("client_assertion_type must be %s", JWTBearerAssertionType)}
	}
	if assertion == "" {
		return nil, &AuthError{Code: CodeInvalidRequest, Description: "client_assertion is missing"}
	}
	if len(assertion) > maxAssertionLen || strings.Count(assertion, ".") != 2 {
		return nil, invalidClient("client_assertion is not a compact JWS (header.payload.signature)")
	}
	jws, err := jose.ParseSigned(assertion, AssertionAlgorithms)
	if err != nil {
		return nil, invalidClient("client_assertion: " + joseMessage(err))
	}
	hdr := jws.Signatures[0].Protected
	alg := jose.SignatureAlgorithm(hdr.Algorithm)
	if hdr.KeyID == "" { // SMART Backend Services: the JWS header must carry kid
		return nil, invalidClient("client assertion header has no kid: SMART requires the kid of the signing key")
	}

	var cl assertionClaims
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &cl); err != nil {
		return nil, invalidClient("client_assertion claims are not a valid JSON object: " + err.Error())
	}
	client, err := v.checkClaims(ctx, &cl, clientIDParam, adhoc)
	if err != nil {
		return nil, err
	}
	key, err := v.selectKey(ctx, client, hdr, alg)
	if err != nil {
		return nil, err
	}
	if _, err := jws.Verify(key); err != nil {
		return nil, invalidClient(fmt.Sprintf("client_assertion signature does not verify with key %q", keyName(key)))
	}
	// Record the jti only after the signature verified, so nobody can burn
	// another client's jtis. Keep it as long as exp (with leeway) accepts it.
	now := v.Now()
	fresh, err := v.jtis.use(ctx, cl.Iss, cl.Jti, cl.Exp.Time().Add(v.Leeway), now)
	if err != nil {
		return nil, err
	}
	if !fresh {
		return nil, &AuthError{Code: CodeInvalidClient, Description: fmt.Sprintf("client_assertion jti %q was already used by %s", cl.Jti, cl.Iss), Err: ErrReplayedJTI}
	}
	return client, nil
}

// checkClaims applies RFC 7523 §3 and SMART's claim rules and finds the client.
func (v *AssertionVerifier) checkClaims(ctx context.Context, cl *assertionClaims, clientIDParam string, adhoc *Client) (*Client, error) {
	if cl.Iss == "" {
		return nil, invalidClient("client_assertion has no iss claim")
	}
	if cl.Sub != cl.Iss { // BES-12
		return nil, invalidClient(fmt.Sprintf("client_assertion sub %q differs from iss %q; both must be the client_id", cl.Sub, cl.Iss))
	}
	if clientIDParam != "" && clientIDParam != cl.Iss { // BES-12, RFC 7521 §4.2
		return nil, invalidClient(fmt.Sprintf("client_id parameter %q differs from the assertion's iss %q", clientIDParam, cl.Iss))
	}
	var client *Client
	switch {
	case adhoc != nil && adhoc.ID == cl.Iss:
		client = adhoc
	case adhoc != nil:
		return nil, invalidClient(fmt.Sprintf("client_assertion iss %q is not this launch's client %q", cl.Iss, adhoc.ID))
	default:
		c, err := v.Registry.Get(ctx, cl.Iss)
		if errors.Is(err, ErrNotFound) { // BES-07
			return nil, invalidClient(fmt.Sprintf("client_assertion iss %q is not a registered client", cl.Iss))
		}
		if err != nil {
			return nil, err
		}
		client = c
	}
	if client.Type != TypeAsymmetric && client.Type != TypeBackend {
		return nil, invalidClient(fmt.Sprintf("client %q is %s and cannot authenticate with private_key_jwt", client.ID, client.Type))
	}

	tokenURL := v.TokenURL()
	if u, ok := ctx.Value(tokenURLKey{}).(string); ok {
		tokenURL = u
	}
	if !cl.Aud.contains(tokenURL) { // BES-09
		return nil, invalidClient(fmt.Sprintf("client_assertion aud %s must be the token endpoint URL %s", cl.Aud, tokenURL))
	}
	now := v.Now()
	if cl.Exp == nil { // BES-10
		return nil, invalidClient("client_assertion has no exp claim")
	}
	exp := cl.Exp.Time()
	if now.After(exp.Add(v.Leeway)) {
		return nil, invalidClient(fmt.Sprintf("client_assertion expired at %s (now %s)", exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
	}
	if exp.After(now.Add(v.MaxLifetime + v.Leeway)) {
		return nil, invalidClient(fmt.Sprintf("client_assertion exp %s is more than %s ahead; SMART allows at most 5 minutes", exp.UTC().Format(time.RFC3339), v.MaxLifetime))
	}
	if cl.Nbf != nil && cl.Nbf.Time().After(now.Add(v.Leeway)) {
		return nil, invalidClient("client_assertion is not valid yet (nbf is in the future)")
	}
	if cl.Jti == "" { // BES-11
		return nil, invalidClient("client_assertion has no jti claim")
	}
	if len(cl.Jti) > maxJTILen {
		return nil, invalidClient(fmt.Sprintf("client_assertion jti is longer than %d characters", maxJTILen))
	}
	return client, nil
}

func keyName(k *jose.JSONWebKey) string { return k.KeyID }

// joseMessage strips go-jose's package prefix from its error text.
func joseMessage(err error) string {
	return strings.TrimPrefix(err.Error(), "go-jose/go-jose: ")
}
