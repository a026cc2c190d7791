package graph

import (
	"compress/gzip"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

const goodJSON = `{
  "skills": [
    {"id": "division", "name": "Division"},
    {"id": "fractions", "name": "Fractions", "requires": ["division"]},
    {"id": "decimals"}
  ],
  "prerequisites": [{"from": "fractions", "to": "decimals"}],
  "activities": [
    {"id": "https://example.org/m/1", "type": "module", "title": "Fractions", "duration": "PT30M",
     "teaches": ["fractions"], "parent": "https://example.org/c/1"},
    {"id": "https://example.org/c/1", "type": "course", "title": "Numbers", "duration": "PT2H",
     "teaches": ["division", "fractions", "decimals"], "assesses": ["decimals"]}
  ],
  "roles": [{"id": "analyst", "name": "Analyst", "requires": [{"skill": "decimals", "level": 0.8}]}]
}`

func TestImportJSON(t *testing.T) {
	g := New()
	rep, err := g.ImportJSON(strings.NewReader(goodJSON))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Skills != 3 || rep.Prerequisites != 2 || rep.Activities != 2 || rep.Roles != 1 {
		t.Fatalf("report %+v", rep)
	}
	a, ok := g.Activity("https://example.org/m/1")
	if !ok || a.Duration != 30*time.Minute || a.Parent != "https://example.org/c/1" {
		t.Fatalf("activity %+v", a)
	}
	if got := g.Prerequisites("decimals"); !reflect.DeepEqual(got, []string{"fractions"}) {
		t.Fatalf("prerequisites %v", got)
	}
	if got := g.Children("https://example.org/c/1"); !reflect.DeepEqual(got, []string{"https://example.org/m/1"}) {
		t.Fatalf("children %v", got)
	}
}

func TestImportRejectsAndReportsAll(t *testing.T) {
	tests := []struct {
		name   string
		format string
		input  string
		want   []string // every one must appear, prefixed by its line
	}{
		{"json", "json", `{
  "skills": [
    {"id": "a"},
    {"id": "b", "requires": ["a"]},
    {"id": "c", "requires": ["b", "zz"]},
    {"id": "a"},
    {"id": ""}
  ],
  "prerequisites": [
    {"from": "c", "to": "a"},
    {"from": "b", "to": "b"}
  ],
  "activities": [
    {"id": "not an iri", "type": "course"},
    {"id": "urn:x", "type": "video"},
    {"id": "urn:y", "type": "item", "teaches": ["nope"]},
    {"id": "urn:z", "type": "item", "duration": "soon"},
    {"id": "urn:w", "type": "item", "colour": "red"}
  ],
  "roles": [
    {"id": "r", "requires": [{"skill": "a", "level": 7}]},
    {"id": "s", "requires": [{"skill": "a"}]}
  ],
  "extra": 1
}`, []string{
			`line 5: prerequisite "zz -> c" field from: unknown skill "zz"`,
			`line 6: duplicate skill "a" (first at line 3)`,
			`line 7: skill field id: must not be empty`,
			`line 10: prerequisite cycle: c -> a -> b -> c`,
			`line 11: prerequisite self-loop: b -> b`,
			`line 14: activity "not an iri" field id: "not an iri" must not contain white space`,
			`line 15: activity "urn:x" field type: unknown activity type "video"`,
			`line 16: activity "urn:y" field teaches[0]: unknown skill "nope"`,
			`line 17: activities[3]: activity "urn:z" field duration:`,
			`line 18: activities[4]: unknown field "colour"`,
			`line 21: role "r" field requires[0].level: level 7`,
			`line 22: roles[1]: role "s" field requires[0].level: missing`,
			`line 24: unknown section "extra"`,
		}},
		{"json syntax", "json", "{\n \"skills\": [\n  {\"id\": \"a\"},\n  {\"id\": }\n ]\n}", []string{"line 4: JSON syntax"}},
		{"json type", "json", "{\n \"skills\": [\n  {\"id\": 5}\n ]\n}", []string{"line 3: skills[0]: field id: want string, got JSON number"}},
		{"csv", "csv", `kind,id,name,type,duration,teaches,assesses,parent,requires,from,to
skill,a,A,,,,,,,,
skill,b,B,,,,,,a,,
skill,b,B again,,,,,,,,
prerequisite,,,,,,,,,b,a
prerequisite,,,,,,,,,a,q
activity,urn:c,Course,course,PT1H,a;b,,urn:missing,,,
activity,urn:d,Course,lecture,,,,,,,
activity,urn:e,E,item,an hour,,,,,,
role,r,R,,,,,,a=0.5;b=high,,
role,s,S,,,,,,a=1.5,,
widget,x,,,,,,,,,
skill,c,,course,,,,,,,
skill,d
`, []string{
			`line 4: duplicate skill "b" (first at line 3)`,
			`line 5: prerequisite cycle: b -> a -> b`,
			`line 6: prerequisite "a -> q" field to: unknown skill "q"`,
			`line 7: activity "urn:c" field parent: unknown activity "urn:missing"`,
			`line 8: activity "urn:d" field type: unknown activity type "lecture"`,
			`line 9: column duration: "an hour"`,
			`line 10: column requires: level "high" of skill "b" is not a number`,
			`line 11: role "s" field requires[0].level: level 1.5`,
			`line 12: column kind: "widget"`,
			`line 13: column type: not used by kind skill`,
			`line 14: CSV: wrong number of fields`,
		}},
		{"csv header", "csv", "kind,id,colour\n", []string{`line 1: CSV header: unknown column "colour"`}},
		{"csv parent cycle", "csv", "kind,id,type,parent\nactivity,urn:a,course,urn:b\nactivity,urn:b,module,urn:a\n",
			[]string{"parent cycle: urn:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := New()
			mustSkills(t, g, "pre-existing")
			var err error
			if tc.format == "json" {
				_, err = g.ImportJSON(strings.NewReader(tc.input))
			} else {
				_, err = g.ImportCSV(strings.NewReader(tc.input))
			}
			var ie *ImportError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v, want *ImportError", err)
			}
			msgs := make([]string, len(ie.Problems))
			for i, p := range ie.Problems {
				msgs[i] = p.String()
			}
			for _, w := range tc.want {
				found := false
				for _, m := range msgs {
					if strings.HasPrefix(m, w) || strings.Contains(m, w) && strings.HasPrefix(w, "parent") {
						found = true
					}
				}
				if !found {
					t.Errorf("missing problem %q in:\n%s", w, strings.Join(msgs, "\n"))
				}
			}
			if len(tc.want) > 1 && len(msgs) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%s", len(msgs), len(tc.want), strings.Join(msgs, "\n"))
			}
			if s, a, r, e := g.Counts(); s != 1 || a != 0 || r != 0 || e != 0 {
				t.Fatalf("graph changed by a rejected import: %d %d %d %d", s, a, r, e)
			}
		})
	}
}

func TestImportCSVGood(t *testing.T) {
	in := "\ufeffKind,ID,Name,Type,Duration,Teaches,Assesses,Parent,Requires\n" +
		"skill,division,Division,,,,,,\n" +
		"skill,fractions,Fractions,,,,,,division\n" +
		"activity,urn:c,Course,course,PT1H,division; fractions,fractions,,\n" +
		"activity,urn:m,Module,module,20m,fractions,,urn:c,\n" +
		"role,clerk,Clerk,,,,,,division=0.9;fractions=0.5\n"
	g := New()
	rep, err := g.ImportCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Skills != 2 || rep.Prerequisites != 1 || rep.Activities != 2 || rep.Roles != 1 {
		t.Fatalf("report %+v", rep)
	}
	r, _ := g.Role("clerk")
	if !reflect.DeepEqual(r.Requires, []Requirement{{"division", 0.9}, {"fractions", 0.5}}) {
		t.Fatalf("role %+v", r)
	}
	a, _ := g.Activity("urn:c")
	if !reflect.DeepEqual(a.Teaches, []string{"division", "fractions"}) || a.Duration != time.Hour {
		t.Fatalf("activity %+v", a)
	}
}

func openJunyi(t *testing.T) *gzip.Reader {
	t.Helper()
	f, err := os.Open("../../../shared/data/junyi_exercise_prereq/junyi_Exercise_table.csv.gz")
	if err != nil {
		t.Skipf("Junyi data not available: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func TestImportJunyi(t *testing.T) {
	g := New()
	_, err := g.Apply(ParseJunyi(openJunyi(t), JunyiOptions{}), ImportOptions{})
	var ie *ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("got %v, want *ImportError", err)
	}
	if !errors.Is(err, ErrCycle) {
		t.Fatal("errors.Is(err, ErrCycle) = false")
	}
	var selfLoops, cycles, dups []string
	for _, p := range ie.Problems {
		s := p.String()
		switch {
		case strings.Contains(s, "self-loop"):
			selfLoops = append(selfLoops, s)
		case strings.Contains(s, "prerequisite cycle"):
			cycles = append(cycles, s)
		case strings.Contains(s, "duplicate exercise"):
			dups = append(dups, s)
		default:
			t.Errorf("unexpected problem %s", s)
		}
	}
	wantLoops := []string{"proportions_1 -> proportions_1", "number_sense_length_l1 -> number_sense_length_l1"}
	if len(selfLoops) != 2 {
		t.Fatalf("self-loops %v", selfLoops)
	}
	for _, w := range wantLoops {
		if !strings.Contains(strings.Join(selfLoops, "\n"), w) {
			t.Errorf("self-loop %s not reported in %v", w, selfLoops)
		}
	}
	if len(cycles) != 1 {
		t.Fatalf("cycles %v", cycles)
	}
	for _, n := range []string{"simplifying_radicals", "adding_and_subtracting_radicals", "radical_multiplication_and_division"} {
		if strings.Count(cycles[0], n) < 1 {
			t.Errorf("cycle %s does not name %s", cycles[0], n)
		}
	}
	if strings.Count(cycles[0], " -> ") != 3 {
		t.Errorf("cycle %s is not a 3-node cycle", cycles[0])
	}
	if len(dups) != 2 || !strings.Contains(dups[0], "matrix_mul_two") || !strings.Contains(dups[1], "matrix_app_fruit_oil") {
		t.Errorf("duplicates %v", dups)
	}
	if s, _, _, _ := g.Counts(); s != 0 {
		t.Fatalf("rejected import applied %d skills", s)
	}

	// Partial import keeps everything valid.
	rep, err := g.Apply(ParseJunyi(openJunyi(t), JunyiOptions{}), ImportOptions{Partial: true})
	if err != nil {
		t.Fatal(err)
	}
	s, a, _, e := g.Counts()
	if s != 835 || a != 835 || len(rep.Problems) != 5 {
		t.Fatalf("partial import: %d skills, %d activities, %d problems", s, a, len(rep.Problems))
	}
	if e != rep.Prerequisites || e < 950 {
		t.Fatalf("partial import: %d edges, report %d", e, rep.Prerequisites)
	}
	if order := g.TopoOrder(); len(order) != 835 {
		t.Fatalf("topological order has %d skills", len(order))
	}
	act, ok := g.Activity("urn:junyi:exercise:circles_and_arcs")
	if !ok || act.Type != TypeItem || act.Title != "圓與弧" {
		t.Fatalf("activity %+v", act)
	}
}
