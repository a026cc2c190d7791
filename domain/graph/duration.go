package graph

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/learnstream/learnstream/domain/xapi"
)

// ParseDuration parses an ISO 8601 duration as used by xAPI ("PT1H30M",
// "P1DT2H", "PT45.5S"; days count as 24 hours; years, months and weeks are
// rejected because their length is ambiguous) or a Go duration ("90m").
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if s[0] != 'P' {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is neither an ISO 8601 duration (PT1H30M) nor a Go duration (90m)", s)
		}
		if d < 0 {
			return 0, fmt.Errorf("%q is negative", s)
		}
		return d, nil
	}
	d, err := xapi.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration like PT1H30M", s)
	}
	if d.Years != 0 || d.Months != 0 || d.Weeks != 0 {
		return 0, fmt.Errorf("%q uses years, months or weeks, whose length is ambiguous; use days or hours", s)
	}
	total := d.Days*86400 + d.Hours*3600 + d.Minutes*60 + d.Seconds
	if total*1e9 > math.MaxInt64 {
		return 0, fmt.Errorf("%q is too long", s)
	}
	return time.Duration(math.Round(total * 1e9)), nil
}

// FormatDuration formats d as an ISO 8601 duration ("PT1H30M"; "PT0S" for zero).
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "PT0S"
	}
	var b strings.Builder
	b.WriteString("PT")
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	if h > 0 {
		fmt.Fprintf(&b, "%dH", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dM", m)
	}
	if d > 0 {
		b.WriteString(strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
		b.WriteString("S")
	}
	return b.String()
}

// activityJSON is the wire form of an Activity: the duration is an ISO 8601 string.
type activityJSON struct {
	ID       string       `json:"id"`
	Type     ActivityType `json:"type"`
	Title    string       `json:"title,omitempty"`
	Duration string       `json:"duration,omitempty"`
	Teaches  []string     `json:"teaches,omitempty"`
	Assesses []string     `json:"assesses,omitempty"`
	Parent   string       `json:"parent,omitempty"`
}

// MarshalJSON writes the duration as an ISO 8601 string.
func (a Activity) MarshalJSON() ([]byte, error) {
	w := activityJSON{ID: a.ID, Type: a.Type, Title: a.Title, Teaches: a.Teaches, Assesses: a.Assesses, Parent: a.Parent}
	if a.Duration > 0 {
		w.Duration = FormatDuration(a.Duration)
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the form written by MarshalJSON; it does not validate.
func (a *Activity) UnmarshalJSON(data []byte) error {
	var w activityJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	d, err := ParseDuration(w.Duration)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*a = Activity{ID: w.ID, Type: w.Type, Title: w.Title, Duration: d, Teaches: w.Teaches, Assesses: w.Assesses, Parent: w.Parent}
	return nil
}
