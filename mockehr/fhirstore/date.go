package fhirstore

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// Range is a half-open instant range [Lo, Hi) in Unix nanoseconds. A FHIR
// date, dateTime or instant stands for the whole interval its precision
// covers ("2020" is all of 2020); a Period is start..end with an open end
// reaching +inf (FHIR R4 search §date).
type Range struct{ Lo, Hi int64 }

const (
	minInstant = math.MinInt64
	maxInstant = math.MaxInt64
)

var errDate = errors.New("not a FHIR date, dateTime or instant (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.sss]][Z|±hh:mm])")

// ParseDate parses a FHIR date/dateTime/instant into the range it covers.
// A time without zone is read as UTC.
func ParseDate(s string) (Range, error) {
	n := len(s)
	num := func(a, b int) (int, bool) {
		if b > n {
			return 0, false
		}
		v, err := strconv.Atoi(s[a:b])
		return v, err == nil && s[a] != '+' && s[a] != '-'
	}
	year, ok := num(0, 4)
	if !ok || n < 4 {
		return Range{}, errDate
	}
	if n == 4 {
		t := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
		return Range{t.UnixNano(), t.AddDate(1, 0, 0).UnixNano()}, nil
	}
	if s[4] != '-' {
		return Range{}, errDate
	}
	month, ok := num(5, 7)
	if !ok || month < 1 || month > 12 {
		return Range{}, errDate
	}
	if n == 7 {
		t := time.Date(year, time.Month(month), 1, 0, 0, 0, 0, time.UTC)
		return Range{t.UnixNano(), t.AddDate(0, 1, 0).UnixNano()}, nil
	}
	if n < 10 || s[7] != '-' {
		return Range{}, errDate
	}
	day, ok := num(8, 10)
	if !ok || day < 1 || day > 31 {
		return Range{}, errDate
	}
	if n == 10 {
		t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
		if t.Day() != day {
			return Range{}, errDate
		}
		return Range{t.UnixNano(), t.AddDate(0, 0, 1).UnixNano()}, nil
	}
	if s[10] != 'T' {
		return Range{}, errDate
	}
	rest := s[11:]
	zone := ""
	if i := strings.IndexAny(rest, "Z+-"); i >= 0 {
		rest, zone = rest[:i], rest[i:]
	}
	var layout string
	var step time.Duration
	switch {
	case len(rest) == 5:
		layout, step = "15:04", time.Minute
	case len(rest) == 8:
		layout, step = "15:04:05", time.Second
	case len(rest) > 9 && rest[8] == '.':
		layout, step = "15:04:05."+strings.Repeat("0", len(rest)-9), time.Nanosecond
		if len(rest)-9 <= 3 {
			step = time.Millisecond
		}
	default:
		return Range{}, errDate
	}
	switch {
	case zone == "":
	case zone == "Z":
		layout += "Z07:00"
	case len(zone) == 6:
		layout += "-07:00"
	default:
		return Range{}, errDate
	}
	t, err := time.Parse("2006-01-02T"+layout, s)
	if err != nil {
		return Range{}, errDate
	}
	return Range{t.UnixNano(), t.Add(step).UnixNano()}, nil
}

// periodRange turns a Period {start, end} into a range; a missing bound is
// open (FHIR R4 datatypes §Period).
func periodRange(m map[string]any) (Range, bool) {
	r := Range{minInstant, maxInstant}
	ok := false
	if s, _ := m["start"].(string); s != "" {
		if v, err := ParseDate(s); err == nil {
			r.Lo, ok = v.Lo, true
		}
	}
	if s, _ := m["end"].(string); s != "" {
		if v, err := ParseDate(s); err == nil {
			r.Hi, ok = v.Hi, true
		}
	}
	return r, ok
}

// matchDate applies a search prefix to a resource value range v and a
// search value range q (FHIR R4 search §prefix).
func matchDate(prefix string, v, q Range) bool {
	contained := q.Lo <= v.Lo && v.Hi <= q.Hi
	switch prefix {
	case "", "eq":
		return contained
	case "ne":
		return !contained
	case "gt":
		return v.Hi > q.Hi
	case "lt":
		return v.Lo < q.Lo
	case "ge":
		return v.Hi > q.Hi || contained
	case "le":
		return v.Lo < q.Lo || contained
	case "sa":
		return v.Lo >= q.Hi
	case "eb":
		return v.Hi <= q.Lo
	}
	return false
}
