package clients

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"os"
	"runtime"
	"testing"
)

// FuzzParseJWKS: registered (ParseJWKS) and fetched (parseFetchedJWKS)
// JWK Sets never panic; what they accept holds only public RSA/EC keys and
// round-trips (marshalled and parsed again, the same kids); and a set
// allocates at most 4 MiB plus 64 bytes per input byte.
func FuzzParseJWKS(f *testing.F) {
	if b, err := os.ReadFile("demokeys/demo-private-jwks.json"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{`{"keys":[]}`, `{"keys":[{"kty":"EC","crv":"P-384","x":"AA","y":"AA","kid":"a"}]}`, `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"r"}]}`,
		`{"keys":[{"kty":"oct","k":"AAAA","kid":"o"}]}`, `{"keys":null}`, `[]`, `{"keys":[1,"x",{}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		set, err := ParseJWKS(raw)
		fetched, ferr := parseFetchedJWKS(raw)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20+64*uint64(len(raw)) {
			t.Fatalf("a %d-byte JWK Set allocated %d KiB", len(raw), alloc>>10)
		}
		if ferr == nil {
			for _, k := range fetched.Keys {
				if !k.IsPublic() {
					t.Fatalf("fetched set kept private key %q", k.KeyID)
				}
			}
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, k := range set.Keys {
			switch k.Key.(type) {
			case *rsa.PublicKey, *ecdsa.PublicKey:
			default:
				t.Fatalf("registered key %q is %T", k.KeyID, k.Key)
			}
		}
		out, merr := json.Marshal(set)
		if merr != nil {
			t.Fatalf("accepted set does not marshal: %v", merr)
		}
		again, err := ParseJWKS(out)
		if err != nil || len(again.Keys) != len(set.Keys) {
			t.Fatalf("round trip of %s: %v", out, err)
		}
		for i := range set.Keys {
			if again.Keys[i].KeyID != set.Keys[i].KeyID || again.Keys[i].Algorithm != set.Keys[i].Algorithm {
				t.Fatalf("key %d: %q/%q, then %q/%q", i, set.Keys[i].KeyID, set.Keys[i].Algorithm, again.Keys[i].KeyID, again.Keys[i].Algorithm)
			}
		}
	})
}
