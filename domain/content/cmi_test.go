package content

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/xapi"
)

func session(t Type, mastery *float64) Session {
	return Session{Type: t, Actor: map[string]any{"mbox": "mailto:ada@example.com", "name": "Ada"},
		Registration: "6fa459ea-ee8a-3ca4-894e-db77e160355e", SessionID: "s1",
		SCO:    &Node{Kind: KindSCO, Identifier: "quiz", IRI: "https://lrs.example.com/scorm/m/quiz", Title: "Quiz", MasteryScore: mastery},
		Course: &Course{IRI: "https://lrs.example.com/scorm/m", Title: "Course"},
		Now:    time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
}

// verbs lists the statements as "verb[ result JSON]".
func verbs(sts []Statement) []string {
	var out []string
	for _, st := range sts {
		v := st["verb"].(map[string]any)["id"].(string)
		v = v[strings.LastIndexByte(v, '/')+1:]
		if r, ok := st["result"]; ok {
			b, _ := json.Marshal(r)
			v += " " + string(b)
		}
		out = append(out, v)
	}
	return out
}

func TestApplySCORM12Session(t *testing.T) {
	m := 0.8
	s := session(SCORM12, &m)
	steps := []struct {
		c    Commit
		want []string
	}{
		{Commit{Event: "initialize"}, []string{"initialized"}},
		{Commit{Event: "commit", Data: map[string]string{
			"cmi.interactions.0.id": "q1", "cmi.interactions.0.type": "choice", "cmi.interactions.0.student_response": "b",
			"cmi.interactions.0.result": "correct", "cmi.interactions.0.correct_responses.0.pattern": "b",
			"cmi.interactions.1.id": "q2", "cmi.interactions.1.type": "true-false", "cmi.interactions.1.student_response": "t",
			"cmi.interactions.1.result": "wrong", "cmi.interactions.1.latency": "00:00:12.5",
			"cmi.core.lesson_location": "page3", "cmi.suspend_data": "q1=b;q2=t",
		}}, []string{`answered {"response":"b","success":true}`, `answered {"duration":"PT12.5S","response":"t","success":false}`}},
		// The same interactions again report nothing new.
		{Commit{Event: "commit", Data: map[string]string{"cmi.core.lesson_status": "incomplete"}}, nil},
		{Commit{Event: "commit", Data: map[string]string{
			"cmi.interactions.2.id": "q3", "cmi.interactions.2.student_response": "42", "cmi.interactions.2.result": "correct",
			"cmi.core.score.raw": "85", "cmi.core.score.max": "100", "cmi.core.score.min": "0", "cmi.core.lesson_status": "completed",
		}}, []string{`answered {"response":"42","success":true}`, `completed {"completion":true}`,
			`passed {"completion":true,"score":{"scaled":0.85,"raw":85,"min":0,"max":100},"success":true}`}},
		{Commit{Event: "terminate", Data: map[string]string{"cmi.core.exit": "suspend", "cmi.core.session_time": "00:05:30"}},
			[]string{`suspended {"duration":"PT5M30S"}`}},
	}
	var a Attempt
	var last Result
	for i, st := range steps {
		res, err := Apply(s, a, st.c)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		// Every statement is valid xAPI, as the write path will check.
		for _, x := range res.Statements {
			b, _ := json.Marshal(x)
			if _, err := xapi.ParseStatement(b); err != nil {
				t.Errorf("step %d: invalid statement %s: %v", i, b, err)
			}
		}
		if got := verbs(res.Statements); strings.Join(got, "\n") != strings.Join(st.want, "\n") {
			t.Errorf("step %d: statements\n%s\nwant\n%s", i, strings.Join(got, "\n"), strings.Join(st.want, "\n"))
		}
		a, last = res.Attempt, res
	}
	if last.Bookmark != (Bookmark{Location: "page3", SuspendData: "q1=b;q2=t", Exit: "suspend", Entry: "resume"}) {
		t.Errorf("bookmark = %+v", last.Bookmark)
	}
	// Relaunch from the bookmark: resumed, and what was reported stays reported.
	s.Entry = "resume"
	res, err := Apply(s, a, Commit{Event: "initialize"})
	if err != nil || strings.Join(verbs(res.Statements), ",") != "resumed" {
		t.Fatalf("resume: %v %v", verbs(res.Statements), err)
	}
	res, err = Apply(s, res.Attempt, Commit{Event: "terminate", Data: map[string]string{"cmi.core.exit": "", "cmi.core.session_time": "01:00:00"}})
	if err != nil || strings.Join(verbs(res.Statements), ",") != `terminated {"duration":"PT1H"}` {
		t.Errorf("terminate: %v %v", verbs(res.Statements), err)
	}

	// The interaction statement carries the definition and the context.
	first, _ := Apply(s, Attempt{Initialized: true}, steps[1].c)
	b, _ := json.Marshal(first.Statements[0])
	for _, want := range []string{`"id":"https://lrs.example.com/scorm/m/quiz/interactions/q1"`, `"interactionType":"choice"`,
		`"correctResponsesPattern":["b"]`, `"parent":[{"id":"https://lrs.example.com/scorm/m/quiz"}]`,
		`"registration":"6fa459ea-ee8a-3ca4-894e-db77e160355e"`, `"category":[{"id":"https://w3id.org/xapi/scorm"}]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("interaction statement lacks %s: %s", want, b)
		}
	}
}

func TestApplySCORM2004Session(t *testing.T) {
	m := 0.7
	s := session(SCORM2004_4, &m)
	a := Attempt{Initialized: true}
	res, err := Apply(s, a, Commit{Event: "commit", Data: map[string]string{
		"cmi.interactions.0.id": "q1", "cmi.interactions.0.type": "fill-in", "cmi.interactions.0.learner_response": "Paris",
		"cmi.interactions.0.result": "correct", "cmi.interactions.0.latency": "PT3S",
		"cmi.score.scaled": "0.6", "cmi.completion_status": "completed", "cmi.success_status": "passed",
	}})
	if err != nil {
		t.Fatal(err)
	}
	// The scaled passing score decides: 0.6 < 0.7 is failed, whatever the SCO said.
	want := []string{`answered {"duration":"PT3S","response":"Paris","success":true}`, `completed {"completion":true}`,
		`failed {"completion":true,"score":{"scaled":0.6},"success":false}`}
	if got := verbs(res.Statements); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("statements\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	res, err = Apply(s, res.Attempt, Commit{Event: "terminate", Data: map[string]string{"cmi.exit": "normal", "cmi.session_time": "PT2M"}})
	if err != nil || strings.Join(verbs(res.Statements), ",") != `terminated {"duration":"PT2M"}` || res.Bookmark.Entry != "" {
		t.Errorf("terminate: %v %+v %v", verbs(res.Statements), res.Bookmark, err)
	}
}

func TestApplyErrorCodes(t *testing.T) {
	initialized := Attempt{Initialized: true}
	terminated := Attempt{Initialized: true, Terminated: true}
	for _, tc := range []struct {
		name     string
		prev     Attempt
		c        Commit
		code12   int
		code2004 int
	}{
		{"commit before initialize", Attempt{}, Commit{Event: "commit"}, 301, 142},
		{"set value before initialize", Attempt{}, Commit{Event: "commit", Data: map[string]string{"cmi.suspend_data": "x"}}, 301, 142},
		{"commit after terminate", terminated, Commit{Event: "commit"}, 101, 143},
		{"terminate before initialize", Attempt{}, Commit{Event: "terminate"}, 301, 112},
		{"terminate after terminate", terminated, Commit{Event: "terminate"}, 101, 113},
		{"initialize twice", initialized, Commit{Event: "initialize"}, 101, 103},
	} {
		for _, typ := range []Type{SCORM12, SCORM2004_3} {
			want := tc.code12
			if typ.IsSCORM2004() {
				want = tc.code2004
			}
			_, err := Apply(session(typ, nil), tc.prev, tc.c)
			re, ok := err.(*RuntimeError)
			if !ok || re.Code != want {
				t.Errorf("%s (%s): %v, want code %d", tc.name, typ, err, want)
			}
		}
	}
	for _, tc := range []struct {
		typ     Type
		element string
		value   string
		code    int
	}{
		{SCORM12, "cmi.core.student_id", "x", 403},
		{SCORM12, "cmi.core.entry", "resume", 403},
		{SCORM12, "cmi.core.favourite_colour", "red", 201},
		{SCORM12, "cmi.core.lesson_status", "done", 405},
		{SCORM12, "cmi.core.score.raw", "120", 405},
		{SCORM12, "cmi.core.score.raw", "lots", 405},
		{SCORM12, "cmi.core.session_time", "PT5M", 405},
		{SCORM12, "cmi.interactions.0.type", "essay", 405},
		{SCORM12, "cmi.suspend_data", strings.Repeat("x", 4097), 405},
		{SCORM2004_4, "cmi.learner_id", "x", 404},
		{SCORM2004_4, "cmi.total_time", "PT1H", 404},
		{SCORM2004_4, "cmi.core.lesson_status", "completed", 401},
		{SCORM2004_4, "cmi.completion_status", "finished", 406},
		{SCORM2004_4, "cmi.score.scaled", "1.5", 407},
		{SCORM2004_4, "cmi.score.scaled", "high", 406},
		{SCORM2004_4, "cmi.progress_measure", "-0.1", 407},
		{SCORM2004_4, "cmi.session_time", "00:05:00", 406},
		{SCORM2004_4, "cmi.interactions.3.result", "wrong", 406},
	} {
		prev := Attempt{Initialized: true, Data: map[string]string{"cmi.location": "kept"}}
		res, err := Apply(session(tc.typ, nil), prev, Commit{Event: "commit", Data: map[string]string{tc.element: tc.value}})
		re, ok := err.(*RuntimeError)
		if !ok || re.Code != tc.code || re.Element != tc.element {
			t.Errorf("%s %s=%q: %v, want code %d naming the element", tc.typ, tc.element, tc.value, err, tc.code)
		}
		if res.Statements != nil || prev.Data["cmi.location"] != "kept" || len(prev.Data) != 1 {
			t.Errorf("%s: a rejected commit changed something", tc.element)
		}
	}
}
