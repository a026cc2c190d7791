package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, text string, gz bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	var data []byte
	if gz {
		var b bytes.Buffer
		z := gzip.NewWriter(&b)
		z.Write([]byte(text))
		z.Close()
		data = b.Bytes()
	} else {
		data = []byte(text)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadItemFeatures(t *testing.T) {
	ouladDir := t.TempDir()
	os.WriteFile(filepath.Join(ouladDir, "assessments.csv"), []byte(`"code_module","code_presentation","id_assessment","assessment_type","date","weight"
"AAA","2013J","1752","TMA","19","10"
"AAA","2014B","1760","Exam","","100"
`), 0o644)
	data := writeFile(t, "data.tsv", "user_id\titem_id\ttimestamp\tcorrect\tskill_id\n0\t12\t0\t1\t7\n1\t13\t0\t0\t7\n1\t12\t0\t0\t7\n", false)
	for _, tc := range []struct {
		name  string
		spec  string
		want  map[string][]string
		times map[string]float64
		err   string
	}{
		{name: "file", spec: writeFile(t, "f.txt", "# item features\ni1\tskill:a, skill:b\ni2 skill:a\ni1 type:course\n", false),
			want: map[string][]string{"i1": {"skill:a", "skill:b", "type:course"}, "i2": {"skill:a"}}},
		{name: "file without features", spec: writeFile(t, "g.txt", "i1\n", false), err: "line 1: want an item and at least one feature"},
		{name: "kg gzipped", spec: "kg:" + writeFile(t, "kg.txt.gz", "4\t0\t219\n4\t5\t300\n5\t5\t300\n", true),
			want: map[string][]string{"4": {"r0:219", "r5:300"}, "5": {"r5:300"}}},
		{name: "kg with a short line", spec: "kg:" + writeFile(t, "kg2.txt", "4 0 219\n4 5\n", false), err: "line 2: want 3 fields (head relation tail), got 2"},
		{name: "oulad", spec: "oulad:" + ouladDir,
			want: map[string][]string{
				"AAA-2013J-1752": {"module:AAA", "presentation:2013J", "module_presentation:AAA-2013J", "assessment_type:TMA"},
				"AAA-2013J":      {"module:AAA", "presentation:2013J"},
				"AAA-2014B-1760": {"module:AAA", "presentation:2014B", "module_presentation:AAA-2014B", "assessment_type:Exam"},
				"AAA-2014B":      {"module:AAA", "presentation:2014B"},
			},
			times: map[string]float64{"AAA-2013J-1752": 273, "AAA-2014B-1760": 396}},
		{name: "oulad without the table", spec: "oulad:" + t.TempDir(), err: "no assessments.csv"},
		{name: "column", spec: "column:skill_id", want: map[string][]string{"12": {"skill_id:7"}, "13": {"skill_id:7"}}},
		{name: "unknown column", spec: "column:nope", err: "header has no column nope"},
		{name: "missing file", spec: filepath.Join(t.TempDir(), "none.txt"), err: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, times, _, err := loadItemFeatures(tc.spec, data)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "--item-features") {
					t.Fatalf("err = %v, want one naming --item-features and %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("features = %q, want %q", got, tc.want)
			}
			for item, fs := range tc.want {
				if !slices.Equal(got[item], fs) {
					t.Fatalf("%s: features %q, want %q", item, got[item], fs)
				}
			}
			for item, at := range tc.times {
				if times[item] != at {
					t.Fatalf("%s: announced at %v, want %v (times %v)", item, times[item], at, times)
				}
			}
			if tc.times != nil && len(times) != len(tc.times) {
				t.Fatalf("times %v, want only the assessments' %v", times, tc.times)
			}
		})
	}
}

// With item features the run replays with and without content; on a
// stream where each learner works through one skill's problems, content
// ranks problems nobody tried yet, which the model alone cannot.
func TestEvalRecommendWithItemFeatures(t *testing.T) {
	data := assistLike(t)
	var stdout, stderr bytes.Buffer
	args := []string{"eval", "recommend", "--data", data, "--item-features", "column:skill_id", "--json"}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var out struct {
		MF, Hybrid struct {
			Recall    float64 `json:"recall"`
			NeverUsed struct {
				Scored int     `json:"scored"`
				Recall float64 `json:"recall"`
			} `json:"never_used"`
		}
		Baseline struct{ Recall float64 }
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if out.MF.NeverUsed.Scored != 40 || out.MF.NeverUsed.Recall != 0 {
		t.Fatalf("without content: never-used %+v, want 40 events, all missed", out.MF.NeverUsed)
	}
	if !(out.Hybrid.NeverUsed.Recall > 0) || !(out.Hybrid.Recall > out.MF.Recall) {
		t.Fatalf("with content: recall %.3f (without %.3f), never used %+v", out.Hybrid.Recall, out.MF.Recall, out.Hybrid.NeverUsed)
	}

	// --json-detail: one replay with content, in the usual form.
	stdout.Reset()
	args[len(args)-1] = "--json-detail"
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var detail struct {
		Recall   float64        `json:"recall"`
		NewItems map[string]any `json:"new_items"`
		Content  map[string]any `json:"content"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &detail); err != nil {
		t.Fatal(err)
	}
	if detail.Recall != out.Hybrid.Recall || detail.NewItems == nil || detail.Content["item_features"] != "column:skill_id" {
		t.Fatalf("detail = %+v, want the hybrid's recall %.4f", detail, out.Hybrid.Recall)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--announce", "later"}, `--announce "later": want catalog, all or stream`},
		{[]string{"--content-recency", "0"}, "Recency = 0, want (0, 1]"},
		{[]string{"--item-features", "column:nope"}, "header has no column nope"},
	} {
		stderr.Reset()
		args := append([]string{"eval", "recommend", "--data", data, "--item-features", "column:skill_id"}, tc.args...)
		if code := run(context.Background(), args, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), tc.want) {
			t.Fatalf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
