package content

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/xapi"
)

func TestCheckCmi5(t *testing.T) {
	m := 0.75
	au := &Node{Kind: KindAU, IRI: "https://example.com/au", MoveOn: "Passed", MasteryScore: &m}
	reg := "6fa459ea-ee8a-3ca4-894e-db77e160355e"
	yes, no := true, false
	hi, lo := 0.8, 0.5
	cmi5 := []string{Cmi5Category}
	st := func(verb string) Cmi5Statement {
		return Cmi5Statement{Verb: verb, Registration: reg, SessionID: "s1", Categories: cmi5, Duration: "PT1M"}
	}
	with := func(s Cmi5Statement, f func(*Cmi5Statement)) Cmi5Statement { f(&s); return s }
	passed := with(st(Cmi5VerbPassed), func(s *Cmi5Statement) { s.Success, s.Scaled = &yes, &hi })
	for _, tc := range []struct {
		name string
		seq  []Cmi5Statement
		want string // error of the last statement; "" accepts all
	}{
		{"a full session", []Cmi5Statement{st(Cmi5VerbInitialized), with(st(Cmi5VerbCompleted), func(s *Cmi5Statement) { s.Completion = &yes }), passed, st(Cmi5VerbTerminated)}, ""},
		{"cmi5 allowed statements in between", []Cmi5Statement{st(Cmi5VerbInitialized), with(st("http://adlnet.gov/expapi/verbs/answered"), func(s *Cmi5Statement) { s.Categories = nil })}, ""},
		{"first is not initialized", []Cmi5Statement{st(Cmi5VerbCompleted)}, "the first statement of a session must be initialized"},
		{"initialized twice", []Cmi5Statement{st(Cmi5VerbInitialized), st(Cmi5VerbInitialized)}, "initialized must be sent once"},
		{"after terminated", []Cmi5Statement{st(Cmi5VerbInitialized), st(Cmi5VerbTerminated), passed}, "no statement may follow terminated"},
		{"an LMS verb", []Cmi5Statement{st(Cmi5VerbInitialized), st(Cmi5VerbSatisfied)}, "is the LMS's"},
		{"wrong session", []Cmi5Statement{with(st(Cmi5VerbInitialized), func(s *Cmi5Statement) { s.SessionID = "other" })}, "session id"},
		{"wrong registration", []Cmi5Statement{with(st(Cmi5VerbInitialized), func(s *Cmi5Statement) { s.Registration = "x" })}, "registration"},
		{"passed under the mastery score", []Cmi5Statement{st(Cmi5VerbInitialized), with(passed, func(s *Cmi5Statement) { s.Scaled = &lo })}, "contradicts the mastery score 0.75"},
		{"failed over the mastery score", []Cmi5Statement{st(Cmi5VerbInitialized), with(st(Cmi5VerbFailed), func(s *Cmi5Statement) { s.Success, s.Scaled = &no, &hi })}, "contradicts"},
		{"passed without score", []Cmi5Statement{st(Cmi5VerbInitialized), with(passed, func(s *Cmi5Statement) { s.Scaled = nil })}, "needs result.score.scaled"},
		{"passed twice", []Cmi5Statement{st(Cmi5VerbInitialized), passed, passed}, "no passed or failed may follow passed"},
		{"completed without duration", []Cmi5Statement{st(Cmi5VerbInitialized), with(st(Cmi5VerbCompleted), func(s *Cmi5Statement) { s.Completion, s.Duration = &yes, "" })}, "result.duration"},
		{"completed without category", []Cmi5Statement{st(Cmi5VerbInitialized), with(st(Cmi5VerbCompleted), func(s *Cmi5Statement) { s.Completion, s.Categories = &yes, nil })}, "cmi5 category"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Cmi5Session{SessionID: "s1"}
			var err error
			for i, x := range tc.seq {
				s, err = CheckCmi5(s, au, reg, x)
				if err != nil && i < len(tc.seq)-1 {
					t.Fatalf("statement %d rejected: %v", i, err)
				}
			}
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestMoveOnAndSatisfied(t *testing.T) {
	for _, tc := range []struct {
		moveOn            string
		completed, passed bool
		want              bool
	}{
		{"Completed", true, false, true}, {"Completed", false, true, false},
		{"Passed", false, true, true}, {"Passed", true, false, false},
		{"CompletedAndPassed", true, false, false}, {"CompletedAndPassed", true, true, true},
		{"CompletedOrPassed", false, true, true}, {"CompletedOrPassed", false, false, false},
		{"NotApplicable", false, false, true},
	} {
		if got := MoveOnMet(tc.moveOn, tc.completed, tc.passed); got != tc.want {
			t.Errorf("%s completed=%v passed=%v: %v", tc.moveOn, tc.completed, tc.passed, got)
		}
	}
	c, err := ParseCMI5([]byte(cmi5Course), Options{IRIBase: base, Exists: files("au1/index.html", "au2/quiz.html")})
	if err != nil {
		t.Fatal(err)
	}
	iris := func(ns []*Node) string {
		var out []string
		for _, n := range ns {
			out = append(out, n.IRI[strings.LastIndexByte(n.IRI, '/')+1:])
		}
		return strings.Join(out, " ")
	}
	// au1 and au2 met: the block is satisfied, the course is not (remote is not).
	met := map[string]bool{"https://example.com/courses/safety/au1": true, "https://example.com/courses/safety/au2": true}
	if got := iris(c.Satisfied(met, nil)); got != "block1" {
		t.Errorf("satisfied = %q, want block1", got)
	}
	met["https://example.com/courses/safety/remote"] = true
	if got := iris(c.Satisfied(met, map[string]bool{"https://example.com/courses/safety/block1": true})); got != "safety" {
		t.Errorf("satisfied = %q, want the course only", got)
	}
}

func TestCmi5LMSStatementsAreValidXAPI(t *testing.T) {
	m := 0.75
	au := &Node{Kind: KindAU, IRI: "https://example.com/au", Title: "AU", MoveOn: "Passed", MasteryScore: &m, LaunchMethod: "AnyWindow"}
	course := &Course{IRI: "https://example.com/course", Title: "C"}
	actor := map[string]any{"mbox": "mailto:ada@example.com"}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, v := range []string{Cmi5VerbLaunched, Cmi5VerbAbandoned, Cmi5VerbSatisfied, Cmi5VerbWaived} {
		b, _ := json.Marshal(Cmi5LMSStatement(actor, v, au, course, "6fa459ea-ee8a-3ca4-894e-db77e160355e", "s1", now, nil))
		if _, err := xapi.ParseStatement(b); err != nil {
			t.Errorf("%s: %v\n%s", v, err, b)
		}
		if v == Cmi5VerbSatisfied && !strings.Contains(string(b), Cmi5MoveOnCategory) {
			t.Errorf("satisfied lacks the moveon category: %s", b)
		}
	}
	ld, _ := json.Marshal(LaunchData(au, "r", "s1", ""))
	for _, want := range []string{`"moveOn":"Passed"`, `"masteryScore":0.75`, `"launchMode":"Normal"`, `"` + ExtSessionID + `":"s1"`} {
		if !strings.Contains(string(ld), want) {
			t.Errorf("LMS.LaunchData lacks %s: %s", want, ld)
		}
	}
}
