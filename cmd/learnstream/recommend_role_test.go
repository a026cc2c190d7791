package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

const careersDoc = `{
  "skills": [{"id": "sql"}, {"id": "joins", "requires": ["sql"]}, {"id": "windows", "requires": ["joins"]}, {"id": "viz"},
             {"id": "python"}, {"id": "pandas", "requires": ["python"]}, {"id": "stats"}, {"id": "ml", "requires": ["pandas", "stats"]},
             {"id": "cooking"}],
  "activities": [
    {"id": "https://example.com/c/sql", "type": "course", "teaches": ["sql"]},
    {"id": "https://example.com/c/joins", "type": "course", "teaches": ["joins"]},
    {"id": "https://example.com/c/windows", "type": "course", "teaches": ["windows"]},
    {"id": "https://example.com/c/viz", "type": "course", "teaches": ["viz"]},
    {"id": "https://example.com/c/python", "type": "course", "teaches": ["python"]},
    {"id": "https://example.com/c/pandas", "type": "course", "teaches": ["pandas"]},
    {"id": "https://example.com/c/stats", "type": "course", "teaches": ["stats"]},
    {"id": "https://example.com/c/ml", "type": "course", "teaches": ["ml"]},
    {"id": "https://example.com/c/cooking", "type": "course", "teaches": ["cooking"]},
    {"id": "https://example.com/c/baking", "type": "course"}],
  "roles": [{"id": "analyst", "requires": [{"skill": "windows", "level": 0.8}, {"skill": "viz", "level": 0.6}]},
            {"id": "ml_engineer", "requires": [{"skill": "ml", "level": 0.8}]}]
}`

// The career-goal scenario end to end: two learners with the same
// history get the same list; PUT /v1/learners/{id}/role gives them
// different target roles, and with no further statement the recommender
// consumer ranks and publishes each list again, whose reasons name the
// learner's role and gap, served by GET .../recommendations.
func TestRecommendationsFollowTheLearnersRole(t *testing.T) {
	// One partition: the two learners share one partition model, so the
	// same history gives the same list.
	p := startServe(t, credEnv(), append([]string{"--data-dir", t.TempDir(), "--partitions", "1"}, isolate()...)...)
	defer p.stop(t)
	if code, b := p.doCT(t, "POST", "/v1/catalog/import", "application/json", careersDoc); code != http.StatusOK {
		t.Fatalf("import: %d %s", code, b)
	}
	statement := func(learner, course string) string {
		return fmt.Sprintf(`{"actor":{"mbox":"mailto:%s"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},
		  "object":{"id":"https://example.com/c/%s"}}`, learner, course)
	}
	// Most peers who took sql and python went on to cooking and baking;
	// some became analysts, some ML engineers.
	paths := [][]string{{"sql", "python", "cooking", "baking"}, {"sql", "joins", "windows", "viz"}, {"python", "pandas", "stats", "ml"}}
	var batch []string
	for round := 0; round < 4; round++ {
		for u := 0; u < 30; u++ {
			path := paths[0]
			if u%5 == 3 {
				path = paths[1]
			} else if u%5 == 4 {
				path = paths[2]
			}
			batch = append(batch, statement(fmt.Sprintf("peer%d@example.com", u), path[round]))
		}
	}
	for _, c := range []string{"sql", "python"} {
		batch = append(batch, statement("ann@example.com", c), statement("bob@example.com", c))
	}
	if code, _, b := p.do(t, "POST", "/xapi/statements", "["+strings.Join(batch, ",")+"]"); code != http.StatusOK {
		t.Fatalf("POST statements: %d %s", code, b)
	}

	type list struct {
		Role  string `json:"role"`
		Items []struct {
			Item    string   `json:"item"`
			Reasons []string `json:"reasons"`
		} `json:"items"`
		BasedOn string `json:"based_on"`
	}
	get := func(learner string) (list, bool) {
		code, b := p.doCT(t, "GET", "/v1/learners/"+learner+"/recommendations", "", "")
		var l list
		if code != http.StatusOK || json.Unmarshal(b, &l) != nil {
			return l, false
		}
		return l, true
	}
	items := func(l list) []string {
		var out []string
		for _, it := range l.Items {
			out = append(out, strings.TrimPrefix(it.Item, "https://example.com/c/"))
		}
		return out
	}
	reasons := func(l list, prefix string) []string {
		var out []string
		for _, it := range l.Items {
			for _, r := range it.Reasons {
				if strings.HasPrefix(r, prefix) {
					out = append(out, strings.TrimPrefix(it.Item, "https://example.com/c/")+" "+r)
				}
			}
		}
		return out
	}
	// Same history, no role: the same items (their order may differ where
	// the two learners' factors, solved at different moments, score items
	// nearly alike), no role reason.
	var ann, bob list
	eventually(t, p, "both learners' lists without a role", func() bool {
		var ok1, ok2 bool
		ann, ok1 = get("ann@example.com")
		bob, ok2 = get("bob@example.com")
		return ok1 && ok2 && sameItems(items(ann), items(bob)) && len(ann.Items) > 0
	})
	if len(reasons(ann, "role_")) > 0 {
		t.Fatalf("role reasons without a role: %v", reasons(ann, "role_"))
	}
	plain := ann.BasedOn

	for learner, role := range map[string]string{"ann@example.com": "analyst", "bob@example.com": "ml_engineer"} {
		if code, b := p.doCT(t, "PUT", "/v1/learners/"+learner+"/role", "application/json", `{"role": "`+role+`"}`); code != http.StatusOK {
			t.Fatalf("PUT role: %d %s", code, b)
		}
	}
	eventually(t, p, "both lists ranked again for the roles", func() bool {
		ann, _ = get("ann@example.com")
		bob, _ = get("bob@example.com")
		return ann.Role == "analyst" && bob.Role == "ml_engineer"
	})
	t.Logf("ann (analyst): %v %v\nbob (ml_engineer): %v %v", items(ann), reasons(ann, "role_"), items(bob), reasons(bob, "role_"))
	if ann.BasedOn == plain {
		t.Errorf("ann's list was not published again on the role change")
	}
	if slices.Equal(items(ann), items(bob)) {
		t.Errorf("different roles, same list %v", items(ann))
	}
	for _, tc := range []struct {
		who        string
		l          list
		want, none []string
	}{
		{"ann", ann, []string{"joins role_gap:analyst:windows=0/0.8", "joins role_path:joins>windows", "viz role_gap:analyst:viz=0/0.6"}, []string{"role_gap:ml_engineer"}},
		{"bob", bob, []string{"pandas role_gap:ml_engineer:ml=0/0.8", "pandas role_path:pandas>ml", "stats role_gap:ml_engineer:ml=0/0.8"}, []string{"role_gap:analyst"}},
	} {
		got := reasons(tc.l, "role_")
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: role reasons %v lack %q", tc.who, got, w)
			}
		}
		for _, n := range tc.none {
			if r := reasons(tc.l, n); len(r) > 0 {
				t.Errorf("%s: the other role's reasons %v", tc.who, r)
			}
		}
	}
	// What closes the gap now ranks above what only the peers liked
	// less: ann's analyst steps come before the ML items she was shown
	// without a role, and bob's the other way round.
	before := func(l list, a, b string) bool {
		i, j := slices.Index(items(l), a), slices.Index(items(l), b)
		return i >= 0 && (j < 0 || i < j)
	}
	if !before(ann, "joins", "pandas") || !before(ann, "viz", "stats") || !before(bob, "pandas", "joins") || !before(bob, "stats", "viz") {
		t.Errorf("gap-closers do not lead: ann %v, bob %v", items(ann), items(bob))
	}
}

// sameItems reports whether two lists hold the same items, in any order.
func sameItems(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
