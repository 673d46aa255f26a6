package launcher

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzSealRoundTrip: seal ↔ open. A launch with arbitrary field values,
// sealed for a purpose, opens to the same launch for that purpose and to
// errSeal for any other; and one flipped character is never accepted.
func FuzzSealRoundTrip(f *testing.F) {
	f.Add("l1", "pat-amy-shaw", "enc-1", "prac-emily-carter", "https://app/launch", "launch", uint(3))
	f.Add("", "", "", "", "", "scenario", uint(0))
	f.Add("\x00\xff", "a\"b", "<script>", "é", "%zz", "", uint(99))
	s, err := newSealer(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, patient, encounter, practitioner, appURL, purpose string, flip uint) {
		l := &Launch{ID: id, Type: "provider-ehr", Patients: []string{patient}, Encounter: encounter, Practitioner: practitioner,
			AppLaunchURL: appURL, CreatedAt: time.Unix(1700000000, 0).UTC(), ExpiresAt: time.Unix(1700000600, 0).UTC()}
		v, err := s.seal(l, purpose)
		if err != nil {
			t.Fatalf("seal: %v", err)
		}
		got, err := s.open(v, purpose)
		if len(v) > maxSealed {
			if err == nil {
				t.Fatalf("a %d-character sealed value opened", len(v))
			}
			return
		}
		if err != nil {
			t.Fatalf("open(seal(l)) = %v", err)
		}
		// JSON replaces invalid UTF-8, as the launch API's JSON already did.
		a, _ := json.Marshal(l)
		var norm Launch
		json.Unmarshal(a, &norm)
		a, _ = json.Marshal(&norm)
		b, _ := json.Marshal(got)
		if !bytes.Equal(a, b) {
			t.Fatalf("round trip:\n%s\n%s", a, b)
		}
		if _, err := s.open(v, purpose+"x"); err != errSeal {
			t.Fatalf("opened for another purpose: %v", err)
		}
		i := int(flip % uint(len(v)))
		c := byte('A')
		if v[i] == 'A' {
			c = 'B'
		}
		tampered := v[:i] + string(c) + v[i+1:]
		if l2, err := s.open(tampered, purpose); err == nil {
			// base64url's last character can carry unused bits; only then may
			// a change decode to the same bytes.
			if c2, _ := json.Marshal(l2); !bytes.Equal(c2, a) {
				t.Fatalf("tampered value %q opened to another launch", tampered)
			}
		}
	})
}
