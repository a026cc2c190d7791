package xapi

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		in   string
		want string // UTC, RFC 3339 with nanoseconds; "" for an error
		rule string // part of the error rule
	}{
		{"2013-05-18T05:32:34.804Z", "2013-05-18T05:32:34.804Z", ""},
		{"2013-05-18T05:32:34Z", "2013-05-18T05:32:34Z", ""},
		{"2015-11-18T12:17:00+00:00", "2015-11-18T12:17:00Z", ""},
		{"2015-11-18T12:17:00+01:00", "2015-11-18T11:17:00Z", ""},
		{"2015-11-18T12:17:00-05:30", "2015-11-18T17:47:00Z", ""},
		{"2015-11-18T12:17:00+0530", "2015-11-18T06:47:00Z", ""},
		{"2015-11-18T12:17:00+05", "2015-11-18T07:17:00Z", ""},
		{"2015-11-18T12:17:00+00", "2015-11-18T12:17:00Z", ""},
		{"2015-11-18T12:17:00.1Z", "2015-11-18T12:17:00.1Z", ""},
		{"2015-11-18T12:17:00,25Z", "2015-11-18T12:17:00.25Z", ""},
		{"2015-11-18T12:17:00.123456789Z", "2015-11-18T12:17:00.123456789Z", ""},
		{"2015-11-18T12:17:00.1234567891234Z", "2015-11-18T12:17:00.123456789Z", ""},
		{"2015-11-18t12:17:00z", "2015-11-18T12:17:00Z", ""},
		{"2016-02-29T00:00:00Z", "2016-02-29T00:00:00Z", ""},
		{"0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z", ""},
		{"9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z", ""},
		{"", "", "ISO 8601"},
		{"should fail", "", "ISO 8601"},
		{"01/011/2015", "", "ISO 8601"},
		{"2015-11-18", "", "ISO 8601"},
		{"2015-11-18T12:17Z", "", "ISO 8601"},
		{"2015-11-18 12:17:00Z", "", "ISO 8601"},
		{"20151118T121700Z", "", "ISO 8601"},
		{"2015-11-18T12:17:00", "", "time zone"},
		{"2015-11-18T12:17:00.601", "", "time zone"},
		{"2008-09-15T15:53:00.601-00", "", "-00:00"},
		{"2008-09-15T15:53:00.601-0000", "", "-00:00"},
		{"2008-09-15T15:53:00.601-00:00", "", "-00:00"},
		{"2015-11-18T12:17:00.Z", "", "ISO 8601"},
		{"2015-11-18T12:17:00+5", "", "ISO 8601"},
		{"2015-11-18T12:17:00+05:3", "", "ISO 8601"},
		{"2015-11-18T12:17:00+24:00", "", "ISO 8601"},
		{"2015-11-18T12:17:00+05:60", "", "ISO 8601"},
		{"2015-11-18T12:17:00ZZ", "", "ISO 8601"},
		{"2015-11-18T12:17:00 Z", "", "ISO 8601"},
		{"2015-02-29T00:00:00Z", "", "real calendar date"},
		{"2015-13-01T00:00:00Z", "", "real calendar date"},
		{"2015-00-01T00:00:00Z", "", "real calendar date"},
		{"2015-01-32T00:00:00Z", "", "real calendar date"},
		{"2015-01-01T24:00:00Z", "", "real calendar date"},
		{"2015-01-01T23:60:00Z", "", "real calendar date"},
		{"2016-12-31T23:59:60Z", "", "leap seconds"},
		{"+2015-01-01T00:00:00Z", "", "ISO 8601"},
		{"0000-01-01T00:00:00Z", "", "0001 and 9999"},
		{"0001-01-01T00:00:00+01:00", "", "0001 and 9999"},
		{"9999-12-31T23:00:00-02:00", "", "0001 and 9999"},
	}
	for _, tc := range tests {
		got, err := ParseTimestamp(tc.in)
		if tc.want == "" {
			var ve *ValidationError
			if !errors.As(err, &ve) || !strings.Contains(ve.Rule, tc.rule) {
				t.Errorf("ParseTimestamp(%q) = %v, %v; want an error mentioning %q", tc.in, got, err, tc.rule)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTimestamp(%q): %v", tc.in, err)
			continue
		}
		if got.Location() != time.UTC {
			t.Errorf("ParseTimestamp(%q) is in %v, want UTC", tc.in, got.Location())
		}
		if s := got.Format(time.RFC3339Nano); s != tc.want {
			t.Errorf("ParseTimestamp(%q) = %s, want %s", tc.in, s, tc.want)
		}
	}
}

func TestFormatTimestamp(t *testing.T) {
	zone := time.FixedZone("", 2*3600)
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2024, 3, 1, 12, 30, 0, 0, time.UTC), "2024-03-01T12:30:00.000Z"},
		{time.Date(2024, 3, 1, 14, 30, 0, 0, zone), "2024-03-01T12:30:00.000Z"},
		{time.Date(2024, 3, 1, 12, 30, 0, 5e8, time.UTC), "2024-03-01T12:30:00.500Z"},
		{time.Date(2024, 3, 1, 12, 30, 0, 123456000, time.UTC), "2024-03-01T12:30:00.123456Z"},
		{time.Date(2024, 3, 1, 12, 30, 0, 1, time.UTC), "2024-03-01T12:30:00.000000001Z"},
	}
	for _, tc := range tests {
		got := FormatTimestamp(tc.in)
		if got != tc.want {
			t.Errorf("FormatTimestamp(%v) = %s, want %s", tc.in, got, tc.want)
		}
		back, err := ParseTimestamp(got)
		if err != nil || !back.Equal(tc.in) {
			t.Errorf("ParseTimestamp(FormatTimestamp(%v)) = %v, %v", tc.in, back, err)
		}
	}
}
