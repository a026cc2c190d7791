package projections

import (
	"encoding/json"
	"testing"
)

func TestStatementsOf(t *testing.T) {
	score := 0.5
	for _, ap := range []ActivityProgress{
		{Activity: "https://example.com/a", Statements: 7, Attempts: 2},
		{Activity: "https://example.com/a", Statements: 0},
		{Activity: `https://example.com/"statements":9,"x`, Statements: 3},
		{Activity: `https://example.com/back\slash\`, Statements: 12, BestScore: &score},
		{Activity: "https://example.com/é/\u2028/<>&", Statements: 123456},
		{Activity: "", Statements: 1},
		{Activity: "https://example.com/big", Statements: 1 << 40},
	} {
		v, err := json.Marshal(ap)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := statementsOf(v); err != nil || n != ap.Statements {
			t.Errorf("%s: %d (%v), want %d", v, n, err, ap.Statements)
		}
	}
	for _, tc := range []struct {
		v    string
		want int
		err  bool
	}{
		{`{"statements":4,"activity":"https://example.com/a"}`, 4, false}, // another order: decoded whole
		{`{"activity":"https://example.com/a","attempts":1}`, 0, false},
		{`{"activity":"https://example.com/a","statements":-1}`, -1, false},
		{`{"activity":"https://example.com/a","statements":5`, 0, true},
		{`{"activity":"https://example.com/a`, 0, true},
		{`not json`, 0, true},
	} {
		n, err := statementsOf([]byte(tc.v))
		if (err != nil) != tc.err || (!tc.err && n != tc.want) {
			t.Errorf("%s: %d (%v), want %d (error %v)", tc.v, n, err, tc.want, tc.err)
		}
	}
}
