package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/learnstream/learnstream/domain/event"
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
		packed, err := ap.encodeValue()
		if err != nil {
			t.Fatal(err)
		}
		if n, err := statementsOf(packed); err != nil || n != ap.Statements {
			t.Errorf("packed %q: %d (%v), want %d", packed, n, err, ap.Statements)
		}
		// What the encoder writes is read in place, up to 10 digits.
		if n, ok := statementsField(v); ok != (ap.Statements < 1e10) || ok && n != ap.Statements {
			t.Errorf("%s: read in place %d (%v)", v, n, ok)
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

// The learners are counted once each, whatever their keys: some here are
// prefixes of others, and each has entries for several activities.
func TestProgressTotals(t *testing.T) {
	p, err := NewProgress(openStore(t))
	if err != nil {
		t.Fatal(err)
	}
	b := &batcher{p: p.Projection}
	learners := []string{"mbox:mailto:a@example.com", "mbox:mailto:a@example.com.au", "mbox:mailto:a@example.co", "mbox:mailto:b@example.com"}
	var evs []event.Event
	for i := range 20 {
		evs = append(evs, progressStatement(t, "t1", learners[i%len(learners)], fmt.Sprintf("https://example.com/a%d", i%3), t0))
	}
	evs = append(evs, progressStatement(t, "t2", learners[0], "https://example.com/a0", t0))
	mustApply(t, b, evs...)
	for tenant, want := range map[string][2]int{"t1": {4, 20}, "t2": {1, 1}, "t3": {0, 0}} {
		l, n, err := p.Totals(context.Background(), tenant)
		if err != nil || l != want[0] || n != want[1] {
			t.Errorf("%s: %d learners, %d statements (%v); want %d, %d", tenant, l, n, err, want[0], want[1])
		}
	}
}
