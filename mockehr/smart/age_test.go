package smart

import (
	"testing"
	"time"
)

func TestFormatAge(t *testing.T) {
	now := time.Date(2025, 3, 1, 15, 30, 0, 0, time.UTC)
	for _, c := range []struct{ name, birth, want string }{
		{"born today", "2025-03-01", "0 d"},
		{"newborn, days", "2025-02-20", "9 d"},
		{"weeks are days under a month", "2025-02-02", "27 d"},
		{"one month to the day", "2025-02-01", "1 mo"},
		{"born on the 31st, a month on", "2025-01-31", "1 mo"},
		{"two months", "2024-12-25", "2 mo"},
		{"14 months (not 1 y)", "2023-12-20", "14 mo"},
		{"13 months", "2024-01-15", "13 mo"},
		{"23 months", "2023-03-02", "23 mo"},
		{"two years exactly", "2023-03-01", "2 y"},
		{"just past two years", "2023-02-28", "2 y"},
		{"birthday tomorrow", "1987-03-02", "37 y"},
		{"birthday passed", "1987-02-20", "38 y"},
		{"year and month only", "2024-02", "13 mo"},
		{"year only", "1990", "35 y"},
		{"unknown", "", ""},
		{"not a date", "garbage", ""},
		{"date-time is not a birth date", "1990-01-01T00:00:00Z", ""},
		{"in the future", "2030-01-01", ""},
		{"tomorrow", "2025-03-02", ""},
	} {
		if got := FormatAge(c.birth, now); got != c.want {
			t.Errorf("%s: FormatAge(%q) = %q, want %q", c.name, c.birth, got, c.want)
		}
	}
}

// Time zones: a birthday is counted on now's own calendar date.
func TestFormatAgeUsesNowsDate(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	// 2025-03-01 08:00 in Tokyo is still 2025-02-28 in UTC.
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, tokyo)
	if got := FormatAge("2023-03-01", now); got != "2 y" {
		t.Errorf("FormatAge on Tokyo's birthday = %q, want 2 y", got)
	}
	if got := FormatAge("2025-03-01", now); got != "0 d" {
		t.Errorf("born today in Tokyo = %q, want 0 d", got)
	}
}
