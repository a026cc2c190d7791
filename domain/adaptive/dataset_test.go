package adaptive

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
)

func TestReadDatasetFormats(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		rows   int
		skills []int // skills per row
		order  []string
	}{
		{"tsv gervet style", "user_id\titem_id\ttimestamp\tcorrect\tskill_id\n0\t12\t0\t0\t143\n0\t13\t0\t1\t143\n", 2, []int{1, 1}, []string{"12", "13"}},
		{"csv with aliases", "learner,item,skill,correct\nu1,q1,fractions,1\n", 1, []int{1}, []string{"q1"}},
		{"semicolon, quoted, multi-skill", "student_id;problem_id;kc;correct\n\"a\";\"p;1\";\"x|y\";1\n", 1, []int{2}, []string{"p;1"}},
		{"timestamps reorder rows", "user,item,skill,correct,time\nu,late,s,1,20\nu,early,s,0,10\nu,mid,s,1,15\n", 3, []int{1, 1, 1}, []string{"early", "mid", "late"}},
		{"RFC 3339 timestamps", "user,item,skill,correct,timestamp\nu,b,s,1,2026-01-02T00:00:00Z\nu,a,s,0,2026-01-01T00:00:00Z\n", 2, []int{1, 1}, []string{"a", "b"}},
		{"BOM and CRLF", "\ufeffuser_id,item_id,skill_id,correct\r\n1,2,3,1\r\n", 1, []int{1}, []string{"2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := NewIndex()
			d, err := ReadDataset(strings.NewReader(tt.in), ix, ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != tt.rows {
				t.Fatalf("%d rows, want %d", d.Len(), tt.rows)
			}
			var e Event
			for i := 0; i < d.Len(); i++ {
				d.Event(i, &e)
				if len(e.Skills) != tt.skills[i] {
					t.Errorf("row %d: %d skills, want %d", i, len(e.Skills), tt.skills[i])
				}
				if got := ix.Items.Name(e.Item); got != tt.order[i] {
					t.Errorf("row %d: item %q, want %q", i, got, tt.order[i])
				}
			}
		})
	}
}

func TestReadDatasetGzip(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("user_id,item_id,skill_id,correct\n1,2,3,1\n1,4,3,0\n"))
	zw.Close()
	d, err := ReadDataset(&buf, NewIndex(), ReadOptions{})
	if err != nil || d.Len() != 2 {
		t.Fatalf("%v, %v", d, err)
	}
}

func TestReadDatasetErrors(t *testing.T) {
	const head = "user_id,item_id,skill_id,correct\n"
	tests := []struct {
		name    string
		in      string
		want    string // substring of the error
		line    int
		column  string
		skipped string // rule counted under SkipBad ("" = still fatal)
	}{
		{"empty", "", "empty input", 1, "", ""},
		{"no delimiter", "justonecolumn\n", "separated by tab, comma or semicolon", 1, "", ""},
		{"missing column", "user_id,item_id,correct\n1,2,1\n", "missing the skill column", 1, "", ""},
		{"duplicate column", "user,learner,item,skill,correct\n", "both name the learner", 1, "", ""},
		{"score not binary", head + "1,2,3,1\n1,2,3,0.5\n", "must be 0 or 1", 3, "correct", "correct: must be 0 or 1"},
		{"score missing", head + "1,2,3,\n", "required", 2, "correct", "correct: required"},
		{"score not a number", head + "1,2,3,yes\n", `(got "yes")`, 2, "correct", "correct: must be 0 or 1"},
		{"learner missing", head + ",2,3,1\n", "required", 2, "user_id", "learner: required"},
		{"item missing", head + "1,,3,1\n", "required", 2, "item_id", "item: required"},
		{"field count", head + "1,2,3\n", "has 3 fields, the header has 4", 2, "", "field count"},
		{"csv syntax", head + "1,2,3,1\n1,2,\"3,1\n", "extraneous or missing", 3, "", ""},
		{"bad timestamp", "user,item,skill,correct,ts\n1,2,3,1,yesterday\n", "RFC 3339", 2, "ts", "timestamp: must be a number or an RFC 3339 time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadDataset(strings.NewReader(tt.in), NewIndex(), ReadOptions{})
			var re *RowError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.want) || re.Line != tt.line || re.Column != tt.column {
				t.Fatalf("got %v (%#v), want line %d column %q containing %q", err, re, tt.line, tt.column, tt.want)
			}
			if tt.skipped == "" {
				return
			}
			d, err := ReadDataset(strings.NewReader(tt.in), NewIndex(), ReadOptions{SkipBad: true})
			if err != nil {
				t.Fatalf("SkipBad: %v", err)
			}
			if d.Skipped[tt.skipped] != 1 {
				t.Fatalf("skipped %v, want 1 under %q", d.Skipped, tt.skipped)
			}
		})
	}
}

func TestReadDatasetDefaults(t *testing.T) {
	in := "user_id,item_id,skill_id,correct\n1,2,,1\n1,3,a;a,0\n"
	d, err := ReadDataset(strings.NewReader(in), NewIndex(), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 2 || d.Defaulted["skill: "+RuleNoSkills] != 1 || d.Defaulted["skill: "+RuleDuplicateSkill] != 1 {
		t.Fatalf("rows %d, defaulted %v", d.Len(), d.Defaulted)
	}
}
