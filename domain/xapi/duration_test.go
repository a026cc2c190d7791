package xapi

import (
	"errors"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	valid := []struct {
		in   string
		want Duration
	}{
		{"PT4H35M59.14S", Duration{Hours: 4, Minutes: 35, Seconds: 59.14}},
		{"PT16559.14S", Duration{Seconds: 16559.14}},
		{"P3Y1M29DT4H35M59.14S", Duration{Years: 3, Months: 1, Days: 29, Hours: 4, Minutes: 35, Seconds: 59.14}},
		{"P3Y", Duration{Years: 3}},
		{"P4W", Duration{Weeks: 4}},
		{"PT1H0M0.1S", Duration{Hours: 1, Seconds: 0.1}},
		{"PT1H0M0S", Duration{Hours: 1}},
		{"PT1234S", Duration{Seconds: 1234}},
		{"P1M", Duration{Months: 1}},
		{"PT1M", Duration{Minutes: 1}},
		{"P0D", Duration{}},
		{"PT0S", Duration{}},
		{"P1DT12H", Duration{Days: 1, Hours: 12}},
		{"PT1.5H", Duration{Hours: 1.5}},
		{"P0.5Y", Duration{Years: 0.5}},
		{"PT0,5S", Duration{Seconds: 0.5}},
		{"PT36H", Duration{Hours: 36}},
		{"PT0.0001S", Duration{Seconds: 0.0001}},
	}
	for _, tc := range valid {
		got, err := ParseDuration(tc.in)
		if err != nil {
			t.Errorf("ParseDuration(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseDuration(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	invalid := []string{
		"", "P", "PT", "T1H", "1H", "PA1H0M0S", "should fail", "P4W1D", "P1Y4W", "P4WT1H",
		"P16559.14S", "PT1D", "P1H", "PT1S1M", "P1D1Y", "P1Y1Y", "P1.5YT1H", "PT1.5H30M",
		"P-1D", "PT-5S", "P1.D", "P.5D", "PT5", "P5", "p1d", "pt1h", "P0003-01-29T04:35:59",
		"PT1H ", " PT1H", "P1DT", "PT1HT1M", "P1YM", "PT1e3S",
	}
	for _, in := range invalid {
		_, err := ParseDuration(in)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Rule == "" {
			t.Errorf("ParseDuration(%q) = %v, want a *ValidationError", in, err)
		}
	}
}

func TestDurationApprox(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"PT4H35M59.14S", 4*time.Hour + 35*time.Minute + 59140*time.Millisecond},
		{"P1DT1H", 25 * time.Hour},
		{"P2W", 14 * 24 * time.Hour},
		{"P1Y", time.Duration(365.25 * 24 * float64(time.Hour))},
		{"P99999999999Y", time.Duration(1<<63 - 1)},
	}
	for _, tc := range tests {
		d, err := ParseDuration(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Approx(); got != tc.want {
			t.Errorf("%s.Approx() = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestDurationForComparison(t *testing.T) {
	tests := []struct{ in, want string }{
		{"PT1.001S", "PT1.00S"},
		{"PT1.00999S", "PT1.00S"},
		{"PT1.10S", "PT1.10S"},
		{"PT1.1S", "PT1.1S"},
		{"PT1S", "PT1S"},
		{"PT1.123456H", "PT1.123456H"},
		{"PT1H2.3456S", "PT1H2.34S"},
		{"P1D", "P1D"},
		{"PT0,12345S", "PT0,12S"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := durationForComparison(tc.in); got != tc.want {
			t.Errorf("durationForComparison(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
