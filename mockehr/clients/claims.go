package clients

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// audience is a JWT aud claim: one string or an array (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud must be a string or an array of strings")
	}
	*a = many
	return nil
}

// contains reports whether the audience names url; like every URL
// comparison in ehrsim it ignores one trailing slash (docs/architecture.md, aud matching).
func (a audience) contains(url string) bool {
	for _, s := range a {
		if smart.TrimSlash(s) == smart.TrimSlash(url) {
			return true
		}
	}
	return false
}

func (a audience) String() string {
	if len(a) == 0 {
		return "(missing)"
	}
	return `"` + strings.Join(a, `", "`) + `"`
}

// numericDate is a JWT NumericDate: seconds since the epoch, possibly
// fractional (RFC 7519 §2).
type numericDate float64

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("a date claim (exp, nbf) must be a number of seconds since the epoch")
	}
	*d = numericDate(f)
	return nil
}

func (d *numericDate) Time() time.Time {
	// Clamp absurd values so the int64 conversion stays defined; the exp
	// checks then refuse them as too far ahead or long past.
	sec, frac := math.Modf(max(-1e12, min(1e12, float64(*d))))
	return time.Unix(int64(sec), int64(frac*1e9))
}
