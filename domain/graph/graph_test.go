package graph

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func mustSkills(t *testing.T, g *Graph, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := g.PutSkill(Skill{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestValidate(t *testing.T) {
	const iri = "https://example.org/a"
	tests := []struct {
		name string
		err  error
		want string // substring of the message; "" means valid
	}{
		{"skill ok", Skill{ID: "fractions"}.Validate(), ""},
		{"skill empty", Skill{}.Validate(), "must not be empty"},
		{"skill inner space ok", Skill{ID: "angle types"}.Validate(), ""},
		{"skill trailing space", Skill{ID: "a "}.Validate(), "white space"},
		{"skill control", Skill{ID: "a\tb"}.Validate(), "control characters"},
		{"skill semicolon", Skill{ID: "a;b"}.Validate(), "';'"},
		{"activity ok", Activity{ID: iri, Type: TypeCourse}.Validate(), ""},
		{"activity urn ok", Activity{ID: "urn:x:1", Type: TypeItem}.Validate(), ""},
		{"activity not IRI", Activity{ID: "course1", Type: TypeCourse}.Validate(), "not an absolute IRI"},
		{"activity bad scheme", Activity{ID: "1x:abc", Type: TypeCourse}.Validate(), "bad scheme"},
		{"activity empty", Activity{Type: TypeCourse}.Validate(), "field id: must not be empty"},
		{"activity type", Activity{ID: iri, Type: "video"}.Validate(), `unknown activity type "video"`},
		{"activity no type", Activity{ID: iri}.Validate(), `unknown activity type ""`},
		{"activity negative duration", Activity{ID: iri, Type: TypeItem, Duration: -time.Second}.Validate(), "duration: must not be negative"},
		{"activity duplicate skill", Activity{ID: iri, Type: TypeItem, Teaches: []string{"a", "a"}}.Validate(), `skill "a" listed twice`},
		{"activity empty skill", Activity{ID: iri, Type: TypeItem, Assesses: []string{""}}.Validate(), "assesses[0]: must not be empty"},
		{"activity own parent", Activity{ID: iri, Type: TypeItem, Parent: iri}.Validate(), "parent self-loop"},
		{"role ok", Role{ID: "analyst", Requires: []Requirement{{"a", 0}, {"b", 1}}}.Validate(), ""},
		{"role level high", Role{ID: "analyst", Requires: []Requirement{{"a", 1.2}}}.Validate(), "level 1.2 of skill \"a\" is outside [0, 1]"},
		{"role level negative", Role{ID: "analyst", Requires: []Requirement{{"a", -0.1}}}.Validate(), "outside [0, 1]"},
		{"role duplicate", Role{ID: "analyst", Requires: []Requirement{{"a", 0.5}, {"a", 0.6}}}.Validate(), "required twice"},
		{"role empty id", Role{}.Validate(), "must not be empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				if tc.err != nil {
					t.Fatalf("unexpected error %v", tc.err)
				}
				return
			}
			if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", tc.err, tc.want)
			}
			if !errors.Is(tc.err, ErrInvalid) && !errors.Is(tc.err, ErrCycle) {
				t.Fatalf("error %v is neither ErrInvalid nor ErrCycle", tc.err)
			}
		})
	}
}

func TestConstructors(t *testing.T) {
	if _, err := NewSkill("", "x"); err == nil {
		t.Fatal("NewSkill accepted an empty id")
	}
	teaches := []string{"a"}
	a, err := NewActivity("urn:a", TypeModule, "A", time.Hour, teaches, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	teaches[0] = "changed"
	if a.Teaches[0] != "a" {
		t.Fatal("NewActivity kept the caller's slice")
	}
	if _, err := NewRole("r", "R", []Requirement{{"a", 2}}); err == nil {
		t.Fatal("NewRole accepted level 2")
	}
}

func TestPrerequisites(t *testing.T) {
	tests := []struct {
		name  string
		edges [][2]string // applied in order; the last one is checked
		want  string      // error substring, "" = ok
		is    error
	}{
		{"ok", [][2]string{{"a", "b"}}, "", nil},
		{"duplicate edge is a no-op", [][2]string{{"a", "b"}, {"a", "b"}}, "", nil},
		{"self-loop", [][2]string{{"a", "a"}}, "prerequisite self-loop: a -> a", ErrCycle},
		{"2-cycle", [][2]string{{"a", "b"}, {"b", "a"}}, "prerequisite cycle: b -> a -> b", ErrCycle},
		{"3-cycle", [][2]string{{"a", "b"}, {"b", "c"}, {"c", "a"}}, "prerequisite cycle: c -> a -> b -> c", ErrCycle},
		{"shortest cycle named", [][2]string{{"a", "b"}, {"b", "c"}, {"c", "d"}, {"a", "d"}, {"d", "a"}}, "prerequisite cycle: d -> a -> d", ErrCycle},
		{"unknown from", [][2]string{{"x", "a"}}, `field from: unknown skill "x"`, ErrUnknown},
		{"unknown to", [][2]string{{"a", "y"}}, `field to: unknown skill "y"`, ErrUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := New()
			mustSkills(t, g, "a", "b", "c", "d")
			var err error
			for _, e := range tc.edges {
				err = g.AddPrerequisite(e[0], e[1])
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.want && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if !errors.Is(err, tc.is) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tc.is)
			}
		})
	}
}

func TestCycleRejectedLeavesGraphUnchanged(t *testing.T) {
	g := New()
	mustSkills(t, g, "a", "b", "c")
	g.AddPrerequisite("a", "b")
	g.AddPrerequisite("b", "c")
	before := g.Edges()
	if err := g.AddPrerequisite("c", "a"); err == nil {
		t.Fatal("cycle accepted")
	}
	if got := g.Edges(); !reflect.DeepEqual(got, before) {
		t.Fatalf("edges changed: %v", got)
	}
}

func TestRemovals(t *testing.T) {
	g := New()
	mustSkills(t, g, "a", "b", "c")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(g.AddPrerequisite("a", "b"))
	must(g.AddPrerequisite("b", "c"))
	must(g.PutActivity(Activity{ID: "urn:course", Type: TypeCourse, Teaches: []string{"a"}}))
	must(g.PutActivity(Activity{ID: "urn:mod", Type: TypeModule, Assesses: []string{"a"}, Parent: "urn:course"}))
	must(g.PutRole(Role{ID: "r", Requires: []Requirement{{"a", 0.5}}}))

	err := g.RemoveSkill("a")
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("RemoveSkill(a) = %v, want ErrInUse", err)
	}
	for _, name := range []string{"urn:course (teaches)", "urn:mod (assesses)", "role r"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("%v does not name %s", err, name)
		}
	}
	if err := g.RemoveActivity("urn:course"); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "urn:mod") {
		t.Fatalf("RemoveActivity(parent) = %v", err)
	}
	must(g.RemoveActivity("urn:mod"))
	must(g.RemoveActivity("urn:course"))
	must(g.RemoveRole("r"))
	must(g.RemoveSkill("b")) // removes a->b and b->c
	if e := g.Edges(); len(e) != 0 {
		t.Fatalf("edges left: %v", e)
	}
	if _, _, _, n := g.Counts(); n != 0 {
		t.Fatalf("edge count %d", n)
	}
	if err := g.RemovePrerequisite("a", "c"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("RemovePrerequisite(missing) = %v", err)
	}
	for _, err := range []error{g.RemoveSkill("zz"), g.RemoveActivity("urn:zz"), g.RemoveRole("zz")} {
		if !errors.Is(err, ErrUnknown) {
			t.Fatalf("remove unknown = %v", err)
		}
	}
}

func TestActivityReferences(t *testing.T) {
	g := New()
	mustSkills(t, g, "a")
	tests := []struct {
		name string
		a    Activity
		want string
	}{
		{"unknown taught", Activity{ID: "urn:x", Type: TypeItem, Teaches: []string{"zz"}}, `teaches[0]: unknown skill "zz"`},
		{"unknown assessed", Activity{ID: "urn:x", Type: TypeItem, Assesses: []string{"a", "q"}}, `assesses[1]: unknown skill "q"`},
		{"unknown parent", Activity{ID: "urn:x", Type: TypeItem, Parent: "urn:nope"}, `parent: unknown activity "urn:nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := g.PutActivity(tc.a)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrUnknown) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	// parent cycle through replacement
	if err := g.PutActivity(Activity{ID: "urn:p", Type: TypeCourse}); err != nil {
		t.Fatal(err)
	}
	if err := g.PutActivity(Activity{ID: "urn:c", Type: TypeModule, Parent: "urn:p"}); err != nil {
		t.Fatal(err)
	}
	err := g.PutActivity(Activity{ID: "urn:p", Type: TypeCourse, Parent: "urn:c"})
	if err == nil || err.Error() != "parent cycle: urn:p -> urn:c -> urn:p" {
		t.Fatalf("got %v", err)
	}
	// replacing an activity re-indexes its skills
	if err := g.PutActivity(Activity{ID: "urn:i", Type: TypeItem, Teaches: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	if err := g.PutActivity(Activity{ID: "urn:i", Type: TypeItem}); err != nil {
		t.Fatal(err)
	}
	if got := g.TeachersOf("a"); len(got) != 0 {
		t.Fatalf("stale teacher index %v", got)
	}
}

func TestSkillsTaughtBy(t *testing.T) {
	g := New()
	mustSkills(t, g, "a", "b", "c")
	for _, a := range []Activity{
		{ID: "urn:1", Type: TypeItem, Teaches: []string{"b", "a"}},
		{ID: "urn:2", Type: TypeItem, Teaches: []string{"a", "c"}},
		{ID: "urn:3", Type: TypeItem},
	} {
		if err := g.PutActivity(a); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		activities []string
		want       []string
	}{
		{"none", nil, nil},
		{"one", []string{"urn:1"}, []string{"b", "a"}},
		{"shared skills once, in the order first taught", []string{"urn:1", "urn:2"}, []string{"b", "a", "c"}},
		{"unknown and teaching nothing", []string{"urn:nope", "urn:3", "urn:2"}, []string{"a", "c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := g.SkillsTaughtBy(tc.activities); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTopoOrder(t *testing.T) {
	tests := []struct {
		name  string
		edges [][2]string
		want  []string
	}{
		{"no edges: sorted", nil, []string{"a", "b", "c", "d"}},
		{"chain", [][2]string{{"d", "c"}, {"c", "b"}, {"b", "a"}}, []string{"d", "c", "b", "a"}},
		{"diamond", [][2]string{{"d", "b"}, {"d", "c"}, {"b", "a"}, {"c", "a"}}, []string{"d", "b", "c", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := New()
			mustSkills(t, g, "a", "b", "c", "d")
			for _, e := range tc.edges {
				if err := g.AddPrerequisite(e[0], e[1]); err != nil {
					t.Fatal(err)
				}
			}
			if got := g.TopoOrder(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"PT1H30M", 90 * time.Minute, false},
		{"P1DT2H", 26 * time.Hour, false},
		{"PT45.5S", 45500 * time.Millisecond, false},
		{"90m", 90 * time.Minute, false},
		{"", 0, false},
		{"P1M", 0, true},
		{"PT", 0, true},
		{"P", 0, true},
		{"PT1H1H", 0, true},
		{"-5m", 0, true},
		{"soon", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v", tc.in, got, err)
		}
	}
	if s := FormatDuration(90*time.Minute + 1500*time.Millisecond); s != "PT1H30M1.5S" {
		t.Errorf("FormatDuration = %s", s)
	}
}
