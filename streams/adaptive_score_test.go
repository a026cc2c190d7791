package streams

import (
	"math"
	"strings"
	"testing"

	"github.com/learnstream/learnstream/domain/xapi"
)

// scoreOf is tested directly for what a valid statement cannot carry
// (NaN, infinities): the LRS refuses those, other producers might not.
func TestAdaptiveScoreOf(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	b := func(v bool) *bool { return &v }
	for _, tc := range []struct {
		name   string
		r      *xapi.Result
		score  float64
		scored bool
		err    string
	}{
		{"nil result", nil, 0, false, ""},
		{"success", &xapi.Result{Success: b(true)}, 1, true, ""},
		{"failure beats scaled", &xapi.Result{Success: b(false), Score: &xapi.Score{Scaled: f(1)}}, 0, true, ""},
		{"scaled", &xapi.Result{Score: &xapi.Score{Scaled: f(0.4)}}, 0.4, true, ""},
		{"negative scaled", &xapi.Result{Score: &xapi.Score{Scaled: f(-1)}}, 0, true, ""},
		{"NaN scaled", &xapi.Result{Score: &xapi.Score{Scaled: f(math.NaN())}}, 0, false, "scaled"},
		{"infinite scaled", &xapi.Result{Score: &xapi.Score{Scaled: f(math.Inf(1))}}, 0, false, "scaled"},
		{"raw", &xapi.Result{Score: &xapi.Score{Raw: f(5), Min: f(0), Max: f(10)}}, 0.5, true, ""},
		{"raw NaN", &xapi.Result{Score: &xapi.Score{Raw: f(math.NaN()), Min: f(0), Max: f(10)}}, 0, false, "raw"},
		{"raw with min = max", &xapi.Result{Score: &xapi.Score{Raw: f(1), Min: f(1), Max: f(1)}}, 0, false, ""},
		{"raw with infinite range", &xapi.Result{Score: &xapi.Score{Raw: f(0), Min: f(math.Inf(-1)), Max: f(math.Inf(1))}}, 0, false, "finite"},
		{"score without numbers", &xapi.Result{Score: &xapi.Score{}}, 0, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ok, err := scoreOf(tc.r)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("scoreOf = %v %v %v, want an error naming %q", s, ok, err, tc.err)
				}
				return
			}
			if err != nil || ok != tc.scored || s != tc.score {
				t.Fatalf("scoreOf = %v %v %v, want %v %v", s, ok, err, tc.score, tc.scored)
			}
		})
	}
}
