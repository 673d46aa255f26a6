package smart

import (
	"fmt"
	"time"
)

// FormatAge is the one way ehrsim writes a person's age (launcher, banners,
// pickers, login and consent pages): the age at now of someone born on
// birth, a FHIR date (YYYY-MM-DD, YYYY-MM or YYYY), as clinicians write it —
// whole days under one month ("12 d"), whole months under two years
// ("14 mo"), then whole years ("38 y"). It is "" when the birth date is
// missing, not a FHIR date, or after now; callers choose what to show then.
//
// Ages are counted in calendar days of now's own date, so the time of day
// and now's time zone do not move a birthday.
func FormatAge(birth string, now time.Time) string {
	var b time.Time
	var err error
	for _, layout := range []string{"2006-01-02", "2006-01", "2006"} {
		if b, err = time.Parse(layout, birth); err == nil {
			break
		}
	}
	y, m, d := now.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if err != nil || b.After(today) {
		return ""
	}
	months := (y-b.Year())*12 + int(m-b.Month())
	if d < b.Day() {
		months--
	}
	switch {
	case months < 1:
		return fmt.Sprintf("%d d", int(today.Sub(b).Hours()/24))
	case months < 24:
		return fmt.Sprintf("%d mo", months)
	}
	return fmt.Sprintf("%d y", months/12)
}
