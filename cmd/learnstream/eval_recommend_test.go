package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// assistLike writes an ASSISTments-shaped TSV (user_id item_id timestamp
// correct skill_id, timestamp 0): 30 learners, each working through the
// problems of 3 skills in order, 8 problems per skill.
func assistLike(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("user_id\titem_id\ttimestamp\tcorrect\tskill_id\n")
	for u := range 30 {
		for s := range 3 {
			skill := (u + s) % 5
			for p := range 8 {
				fmt.Fprintf(&b, "%d\t%d\t0\t%d\t%d\n", u, 100*skill+p, (u+p)%2, skill)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "assist.tsv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEvalRecommendSplits(t *testing.T) {
	data := assistLike(t)
	for _, tc := range []struct {
		name          string
		args          []string
		scored, items int
		// scored events by history bucket
		buckets map[string]int
	}{
		// Every row is a new problem for its learner: 24 scored per learner.
		{"problems", nil, 30 * 24, 40, map[string]int{"0": 30, "1": 30, "2-5": 120, "6-20": 450, "21-100": 90, ">100": 0}},
		// Only the first row of each skill is scored; the others repeat it.
		// The second skill starts after 8 events, the third after 16.
		{"skills", []string{"--item-column", "skill_id"}, 30 * 3, 5, map[string]int{"0": 30, "6-20": 60}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"eval", "recommend", "--data", data, "--json-detail", "--windows", "12"}, tc.args...)
			if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			var out struct {
				Events, Scored, Items int
				ByHistory             map[string]struct {
					Scored int `json:"scored"`
					Model  struct {
						Hits int `json:"hits"`
					} `json:"model"`
				} `json:"by_history"`
				NewItems struct {
					Scored int `json:"scored"`
				} `json:"new_items"`
				Curve struct {
					By     string `json:"by"`
					Points []struct {
						Events int     `json:"events"`
						Scored int     `json:"scored"`
						Start  float64 `json:"start"`
					} `json:"points"`
				} `json:"curve"`
			}
			if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
				t.Fatalf("%v: %s", err, stdout.String())
			}
			if !strings.Contains(stdout.String(), `">100":{"scored":`) {
				t.Errorf("bucket >100 missing or escaped: %s", stdout.String())
			}
			if out.Events != 30*24 || out.Scored != tc.scored || out.Items != tc.items {
				t.Errorf("events %d scored %d items %d", out.Events, out.Scored, out.Items)
			}
			if len(out.ByHistory) != 6 {
				t.Errorf("by_history has %d buckets, want 6", len(out.ByHistory))
			}
			for b, sp := range out.ByHistory {
				if sp.Scored != tc.buckets[b] {
					t.Errorf("bucket %s: %d scored, want %d", b, sp.Scored, tc.buckets[b])
				}
			}
			// Every item has fewer than 50 interactions before its 51st.
			if out.NewItems.Scored == 0 || out.NewItems.Scored > out.Scored {
				t.Errorf("new items %d of %d", out.NewItems.Scored, out.Scored)
			}
			// No times: 12 windows of 60 events each.
			if out.Curve.By != "events" || len(out.Curve.Points) != 12 || out.Curve.Points[1].Start != 60 {
				t.Fatalf("curve %+v", out.Curve)
			}
			sc := 0
			for _, p := range out.Curve.Points {
				if p.Events != 60 {
					t.Errorf("window of %d events", p.Events)
				}
				sc += p.Scored
			}
			if sc != out.Scored {
				t.Errorf("curve scores %d, want %d", sc, out.Scored)
			}
		})
	}
}

func TestEvalRecommendHumanAndJSON(t *testing.T) {
	data := assistLike(t)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"eval", "recommend", "--data", data, "--item-column", "skill_id"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"item = column skill_id", "by history (learner's prior events", "  >100 ", "  21-100 ", "  new items ", "curve       50 windows by events"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"eval", "recommend", "--data", data, "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"recall_at_10", "ndcg_at_10", "baseline", "events", "events_per_second", "by_history", "new_items"} {
		if _, ok := out[k]; !ok {
			t.Errorf("--json lacks %s: %s", k, stdout.String())
		}
	}
}

func TestEvalRecommendItemColumnErrors(t *testing.T) {
	data := assistLike(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", data, "--item-column", "skill"}, `item column "skill": the header "user_id,item_id,timestamp,correct,skill_id" has no such column`},
		{[]string{"--data", t.TempDir(), "--item-column", "skill_id"}, `--item-column "skill_id": applies to an event file, not the OULAD directory`},
		{[]string{"--data", data, "--windows", "0"}, "--windows 0: want 1..10000"},
	} {
		var stdout, stderr bytes.Buffer
		run(context.Background(), append([]string{"eval", "recommend"}, tc.args...), &stdout, &stderr)
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: stderr %q, want %q", tc.args, stderr.String(), tc.want)
		}
	}
}
