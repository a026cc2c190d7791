package oracle

import (
	"strconv"
	"strings"
	"time"
)

// ParseTimestamp parses an xAPI timestamp and returns it in UTC.
//
// Accepted is the RFC 3339 profile of ISO 8601 that the specification
// recommends: "2006-01-02T15:04:05" with an optional fraction of a second
// (any number of digits, kept to the nanosecond) and a mandatory zone: "Z",
// or an offset written "+07:00", "+0700" or "+07". A negative zero offset
// ("-00:00", "-0000", "-00") is rejected: RFC 3339 gives it the meaning
// "local offset unknown", so it does not name an instant, and the ADL
// conformance suite requires the rejection. So are leap seconds and dates
// whose UTC instant falls outside years 1-9999, which could not be written
// back in the same form.
//
// Errors are *ValidationError with an empty Field; callers set the field.
func ParseTimestamp(s string) (time.Time, error) {
	t, rule := parseTimestamp(s)
	if rule != "" {
		return time.Time{}, &ValidationError{Rule: rule}
	}
	return t, nil
}

const timestampRule = `must be an ISO 8601 timestamp with a time zone, like "2024-03-01T12:30:00.000Z"`

func parseTimestamp(s string) (time.Time, string) {
	// YYYY-MM-DDTHH:MM:SS is 19 bytes; a zone adds at least one more.
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, timestampRule
	}
	year, ok1 := atoiFixed(s[0:4])
	month, ok2 := atoiFixed(s[5:7])
	day, ok3 := atoiFixed(s[8:10])
	hour, ok4 := atoiFixed(s[11:13])
	minute, ok5 := atoiFixed(s[14:16])
	sec, ok6 := atoiFixed(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, timestampRule
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 {
		return time.Time{}, "must be a real calendar date and time of day"
	}
	if sec > 59 {
		return time.Time{}, "must not use leap seconds or seconds above 59"
	}

	i, nsec := 19, 0
	if s[i] == '.' || s[i] == ',' {
		i++
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start {
			return time.Time{}, timestampRule
		}
		frac := s[start:i]
		if len(frac) > 9 {
			frac = frac[:9] // below a nanosecond nothing is kept
		}
		frac += strings.Repeat("0", 9-len(frac))
		nsec, _ = strconv.Atoi(frac)
	}

	zone := s[i:]
	offset := 0
	switch {
	case zone == "Z" || zone == "z":
	case zone == "":
		return time.Time{}, "must include a time zone (\"Z\" or an offset such as \"+02:00\")"
	case zone[0] == '+' || zone[0] == '-':
		var hh, mm int
		var ok bool
		switch z := zone[1:]; {
		case len(z) == 2:
			hh, ok = atoiFixed(z)
		case len(z) == 4:
			hh, ok = atoiFixed(z[:2])
			if ok {
				mm, ok = atoiFixed(z[2:])
			}
		case len(z) == 5 && z[2] == ':':
			hh, ok = atoiFixed(z[:2])
			if ok {
				mm, ok = atoiFixed(z[3:])
			}
		}
		if !ok || hh > 23 || mm > 59 {
			return time.Time{}, timestampRule
		}
		if zone[0] == '-' && hh == 0 && mm == 0 {
			return time.Time{}, `must not use the offset "-00:00", which means "local offset unknown"; use "Z" or "+00:00"`
		}
		offset = hh*3600 + mm*60
		if zone[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, timestampRule
	}

	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.FixedZone("", offset)).UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, "must lie between the years 0001 and 9999 (in UTC)"
	}
	return t, ""
}

// FormatTimestamp writes t the way the LRS returns timestamps: in UTC, in
// RFC 3339 form, with at least millisecond precision (which the
// specification asks an LRS to keep) and more digits only when t has them.
func FormatTimestamp(t time.Time) string {
	t = t.UTC()
	s := t.Format("2006-01-02T15:04:05.000000000")
	// Trim trailing zeros of the fraction, but keep three digits.
	end := len(s)
	for end > len(s)-6 && s[end-1] == '0' {
		end--
	}
	return s[:end] + "Z"
}

func atoiFixed(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, s != ""
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
