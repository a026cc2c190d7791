package streams

import (
	"crypto/sha1"
	"fmt"
	"strings"
	"testing"

	"github.com/learnstream/learnstream/domain/mf"
)

// Derived ids name events that several instances, or one after a restart,
// publish again: they must stay the same across versions. The reference is
// how they were first computed.
func TestDerivedIDUnchanged(t *testing.T) {
	ref := func(kind, input string) string {
		h := sha1.Sum([]byte("learnstream/" + kind + "\x00" + input))
		h[6] = (h[6] & 0x0f) | 0x50
		h[8] = (h[8] & 0x3f) | 0x80
		return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
	}
	for _, tc := range []struct{ kind, input string }{
		{"recommendations", "5f0c2a4e-1d3b-4c8e-9a7f-2b6d8e0c1a34"},
		{"activity_seen", "default\x00https://example.com/activities/a"},
		{"", ""},
		{"mastery", strings.Repeat("long input past the stack buffer ", 20)},
		{"ü", "\xff\x00"},
	} {
		if got, want := DerivedID(tc.kind, tc.input), ref(tc.kind, tc.input); got != want {
			t.Errorf("DerivedID(%q, %q) = %s, want %s", tc.kind, tc.input, got, want)
		}
	}
}

// A list's model version reads <algorithm>-k<factors>/p<partition>/<events>.
func TestModelVersion(t *testing.T) {
	for _, alg := range []mf.Algorithm{mf.ALS, mf.ISGD} {
		cfg := mf.DefaultConfig()
		cfg.Algorithm = alg
		m, err := mf.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			m.Observe(fmt.Sprint("learner", i), "item", 1)
		}
		want := fmt.Sprintf("%s-k%d/p%d/%d", alg, m.K(), 11, 3)
		if got := modelVersion(m, 11); got != want {
			t.Errorf("modelVersion = %q, want %q", got, want)
		}
	}
}
