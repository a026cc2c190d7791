package oracle

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is an ISO 8601 duration split into its components. The
// components are not normalised: "PT90M" has Minutes 90, because months and
// years have no fixed length and the specification compares durations as
// written.
type Duration struct {
	Years, Months, Weeks, Days float64
	Hours, Minutes, Seconds    float64
}

const durationRule = `must be an ISO 8601 duration such as "PT1H30M5.25S", "P3Y2M" or "P4W"`

// ParseDuration parses an ISO 8601:2004 duration in the format of section
// 4.4.3.2 ("PnYnMnDTnHnMnS", or "PnW" on its own), the only one xAPI allows;
// the alternative format ("P0003-01-29T04:35:59") is rejected. Any number of
// components may be left out but at least one must be present; only the
// last one may have a fraction ("PT1.5H", "PT59.14S"), with "." or "," as
// the decimal sign. Errors are *ValidationError with an empty Field.
func ParseDuration(s string) (Duration, error) {
	d, ok := parseDuration(s)
	if !ok {
		return Duration{}, &ValidationError{Rule: durationRule}
	}
	return d, nil
}

func parseDuration(s string) (Duration, bool) {
	rest, ok := strings.CutPrefix(s, "P")
	if !ok || rest == "" {
		return Duration{}, false
	}
	var d Duration
	datePart, timePart, hasT := strings.Cut(rest, "T")
	if hasT && timePart == "" {
		return Duration{}, false
	}
	fraction := false // a fraction was seen, so no component may follow
	components := 0
	scan := func(part, designators string, dst []*float64) bool {
		next := 0 // index of the next designator allowed (they come in order)
		for part != "" {
			if fraction {
				return false
			}
			i := 0
			for i < len(part) && part[i] >= '0' && part[i] <= '9' {
				i++
			}
			if i == 0 {
				return false
			}
			if i < len(part) && (part[i] == '.' || part[i] == ',') {
				j := i + 1
				for j < len(part) && part[j] >= '0' && part[j] <= '9' {
					j++
				}
				if j == i+1 {
					return false
				}
				fraction = true
				i = j
			}
			if i == len(part) {
				return false // a number without a designator
			}
			at := strings.IndexByte(designators[next:], part[i])
			if at < 0 {
				return false
			}
			num := strings.Replace(part[:i], ",", ".", 1)
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || math.IsInf(v, 0) {
				return false
			}
			*dst[next+at] = v
			next += at + 1
			components++
			part = part[i+1:]
		}
		return true
	}
	if !scan(datePart, "YMWD", []*float64{&d.Years, &d.Months, &d.Weeks, &d.Days}) {
		return Duration{}, false
	}
	// Weeks stand alone: "P4W1D" is not a duration (xAPI Data 4.6).
	if strings.Contains(datePart, "W") && (len(datePart) != strings.IndexByte(datePart, 'W')+1 || hasT || strings.ContainsAny(datePart, "YMD")) {
		return Duration{}, false
	}
	if hasT && !scan(timePart, "HMS", []*float64{&d.Hours, &d.Minutes, &d.Seconds}) {
		return Duration{}, false
	}
	return d, components > 0
}

// Approx converts d to a time.Duration, counting a year as 365.25 days and
// a month as a twelfth of that. It is meant for analytics (time spent) where
// an approximation is fine; results beyond the range of time.Duration are
// clamped.
func (d Duration) Approx() time.Duration {
	const day = 24 * float64(time.Hour)
	ns := d.Years*365.25*day + d.Months*365.25/12*day + d.Weeks*7*day + d.Days*day +
		d.Hours*float64(time.Hour) + d.Minutes*float64(time.Minute) + d.Seconds*float64(time.Second)
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(ns)
}

// durationForComparison drops digits of the seconds beyond the hundredth:
// the specification says precision beyond 0.01 s is not part of a
// statement and an LRS may truncate it, so it must not cause a conflict.
func durationForComparison(s string) string {
	if !strings.HasSuffix(s, "S") {
		return s
	}
	sep := strings.LastIndexAny(s, ".,")
	if sep < 0 || strings.ContainsAny(s[sep:], "HMTDWYP") {
		return s
	}
	digits := s[sep+1 : len(s)-1]
	if len(digits) <= 2 {
		return s
	}
	return s[:sep+1] + digits[:2] + "S"
}
