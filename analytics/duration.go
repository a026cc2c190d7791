package analytics

import (
	"errors"
	"strconv"
)

// ParseISODuration converts an ISO 8601 duration (PnYnMnWnDTnHnMnS, as xAPI
// result.duration uses) to seconds. Any component may carry a fraction
// ("PT1.5S", "PT0.25H"). Calendar units have no fixed length, so a year
// counts as 365 days and a month as 30 days; xAPI content almost always
// reports PT...S or PnDT... anyway. Negative durations are rejected.
func ParseISODuration(s string) (float64, error) {
	if len(s) < 2 || s[0] != 'P' {
		return 0, errors.New("must start with P")
	}
	inTime := false
	var total float64
	components := 0
	last := -1 // position of the last unit in the current section's order
	fraction := false
	for i := 1; i < len(s); {
		if s[i] == 'T' {
			if inTime {
				return 0, errors.New("has a second T")
			}
			inTime = true
			last = -1
			i++
			if i == len(s) {
				return 0, errors.New("has no time component after T")
			}
			continue
		}
		j := i
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == ',') {
			j++
		}
		if j == i || j == len(s) {
			return 0, errors.New("has a number without a unit or a unit without a number")
		}
		if fraction {
			return 0, errors.New("has a component after a fractional one")
		}
		num := s[i:j]
		for k := 0; k < len(num); k++ {
			if num[k] == ',' {
				num = num[:k] + "." + num[k+1:]
			}
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 {
			return 0, errors.New("has an invalid number")
		}
		if v != float64(int64(v)) {
			fraction = true
		}
		unit := s[j]
		mult, pos := durationUnit(inTime, unit)
		if pos < 0 {
			return 0, errors.New("has an unknown unit " + strconv.Quote(string(unit)))
		}
		if pos <= last {
			return 0, errors.New("has units out of order or repeated")
		}
		last = pos
		total += v * mult
		components++
		i = j + 1
	}
	if components == 0 {
		return 0, errors.New("has no components")
	}
	return total, nil
}

// durationUnit returns the seconds in one unit and the unit's position in
// its section (Y M W D, or H M S after T); pos is -1 for an unknown unit.
func durationUnit(inTime bool, unit byte) (seconds float64, pos int) {
	const day = 86400.0
	if inTime {
		switch unit {
		case 'H':
			return 3600, 0
		case 'M':
			return 60, 1
		case 'S':
			return 1, 2
		}
		return 0, -1
	}
	switch unit {
	case 'Y':
		return 365 * day, 0
	case 'M':
		return 30 * day, 1
	case 'W':
		return 7 * day, 2
	case 'D':
		return day, 3
	}
	return 0, -1
}
