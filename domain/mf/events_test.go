package mf

import (
	"compress/gzip"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

type ev struct {
	u, i string
	w    float64
}

func pairs(evs []Event) []ev {
	out := make([]ev, len(evs))
	for n, e := range evs {
		out[n] = ev{e.User, e.Item, e.Weight}
	}
	return out
}

func TestReadEvents(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []ev
	}{
		{"csv learner,item", "learner,item\na,x\nb,y\n", []ev{{"a", "x", 1}, {"b", "y", 1}}},
		{"csv aliases and extra columns", "\ufeffUser_ID, Course ,note\na,x,hello\n", []ev{{"a", "x", 1}}},
		{"csv quoted", "user,item\n\"a, b\",\"x\"\n", []ev{{"a, b", "x", 1}}},
		{"csv weight and label", "user,item,weight,label\na,x,2.5,1\na,y,1,0\na,z,0,1\n", []ev{{"a", "x", 2.5}}},
		{"csv timestamp sort (stable)", "user,item,timestamp\na,x,3\nb,y,1\nc,z,3\nd,w,2\n",
			[]ev{{"b", "y", 1}, {"d", "w", 1}, {"a", "x", 1}, {"c", "z", 1}}},
		{"csv RFC 3339 times", "user,item,time\na,x,2026-01-02T00:00:00Z\nb,y,2026-01-01T00:00:00Z\n",
			[]ev{{"b", "y", 1}, {"a", "x", 1}}},
		{"mooccube headerless tab", "0\t4\t1\n0\t168\t0\n1\t0\t1\n", []ev{{"0", "4", 1}, {"1", "0", 1}}},
		{"headerless spaces, 2 columns", "\n\n7  9\n8 10\n", []ev{{"7", "9", 1}, {"8", "10", 1}}},
		{"space-separated header", "user item label\nu i 1\n", []ev{{"u", "i", 1}}},
		{"empty input", "", nil},
		{"xapi ndjson", `{"actor":{"mbox":"mailto:a@example.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://example.org/c/1"},"timestamp":"2026-01-02T00:00:00Z"}
{"actor":{"account":{"homePage":"https://hr.example.org","name":"42"}},"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},"object":{"objectType":"Activity","id":"https://example.org/q/1"},"result":{"success":false},"timestamp":"2026-01-01T00:00:00Z"}
{"actor":{"mbox_sha1sum":"abc"},"verb":{"id":"http://adlnet.gov/expapi/verbs/voided"},"object":{"objectType":"StatementRef","id":"6690e6c9-3ef0-4ed3-8b37-7f3964730bee"}}
{"actor":{"openid":"https://id.example.org/b"},"verb":{"id":"http://adlnet.gov/expapi/verbs/commented"},"object":{"objectType":"StatementRef","id":"6690e6c9-3ef0-4ed3-8b37-7f3964730bee"}}

{"actor":{"openid":"https://id.example.org/b"},"verb":{"id":"https://example.org/verbs/bookmarked"},"object":{"id":"https://example.org/c/2"},"stored":"2026-01-03T00:00:00Z"}
`, []ev{{"https://hr.example.org#42", "https://example.org/q/1", 0.5}, {"mailto:a@example.org", "https://example.org/c/1", 3},
			{"https://id.example.org/b", "https://example.org/c/2", 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := ReadEvents(strings.NewReader(tc.input), ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := pairs(evs); !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReadEventsLines(t *testing.T) {
	evs, err := ReadEvents(strings.NewReader("\nuser,item\na,x\n\nb,y\n"), ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if evs[0].Line != 3 || evs[1].Line != 5 {
		t.Fatalf("lines %d %d", evs[0].Line, evs[1].Line)
	}
	evs, _ = ReadEvents(strings.NewReader("a b 1\na c 1\na d 1\n"), ReadOptions{MaxEvents: 2})
	if len(evs) != 2 {
		t.Fatalf("MaxEvents: %d events", len(evs))
	}
}

func TestReadEventsErrors(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"bad label", "user,item,label\na,x,1\nb,y,yes\n", `line 3, column 3 (label): label "yes" is not 0 or 1`},
		{"headerless bad label", "0\t4\t1\n0\t5\t2\n", `line 2, column 3 (label): label "2" is not 0 or 1`},
		{"empty item", "user,item\na,\n", "line 2, column 2 (item): empty item"},
		{"empty learner", "user,item\n ,x\n", "line 2, column 1 (user): empty learner"},
		{"column count", "user,item\na,x,z\n", "line 2: 3 columns, want 2"},
		{"bad weight", "user,item,weight\na,x,-1\n", `line 2, column 3 (weight): weight "-1" is not a finite number >= 0`},
		{"bad time", "user,item,ts\na,x,yesterday\n", `line 2, column 3 (ts): timestamp "yesterday" is neither a number nor an RFC 3339 time`},
		{"header without item", "user,score\na,1\n", `line 1: header "user,score" names no item column`},
		{"headerless width", "a b c d\n", "line 1: no header, and 4 columns"},
		{"csv quote", "user,item\n\"a,x\n", "line 2"},
		{"xapi bad json", `{"actor":`, "line 1: not a JSON statement"},
		{"xapi no actor", `{"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://x.org/1"}}`, "line 1, column actor: missing"},
		{"xapi no ifi", `{"actor":{"name":"A"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://x.org/1"}}`, "line 1, column actor: no mbox"},
		{"xapi group", `{"actor":{"objectType":"Group","mbox":"mailto:g@x.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://x.org/1"}}`, "column actor.objectType"},
		{"xapi no verb", `{"actor":{"mbox":"mailto:a@x.org"},"object":{"id":"https://x.org/1"}}`, "line 1, column verb.id: missing"},
		{"xapi type", `{"actor":{"mbox":"mailto:a@x.org"},"verb":{"id":5},"object":{"id":"https://x.org/1"}}`, "line 1, column verb.id: want string"},
		{"xapi bad time", "\n" + `{"actor":{"mbox":"mailto:a@x.org"},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed"},"object":{"id":"https://x.org/1"},"timestamp":"Monday"}`, `line 2, column timestamp: "Monday"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadEvents(strings.NewReader(tc.input), ReadOptions{})
			var re *RowError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a *RowError containing %q", err, tc.want)
			}
		})
	}
}

func TestWeights(t *testing.T) {
	w := DefaultWeights()
	no, yes := false, true
	tests := []struct {
		verb    string
		success *bool
		want    float64
	}{
		{VerbPassed, nil, 4},
		{VerbCompleted, &yes, 3},
		{VerbAnswered, &no, 0.5},
		{VerbFailed, &no, 0.5},
		{VerbLaunched, nil, 0.5},
		{VerbVoided, nil, 0},
		{"https://example.org/verbs/unknown", nil, 1},
	}
	for _, tc := range tests {
		if got := w.Confidence(tc.verb, tc.success); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.verb, got, tc.want)
		}
	}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	w.Verbs["x"] = -1
	if err := w.Validate(); err == nil {
		t.Fatal("negative weight accepted")
	}
}

// ASSISTments 2009 (Gervet et al. preprocessing): tab-separated, timestamp
// always 0, so the stream keeps the row order; ItemColumn picks the skill
// instead of the problem.
func TestReadEventsItemColumn(t *testing.T) {
	const assist = "user_id\titem_id\ttimestamp\tcorrect\tskill_id\n" +
		"7\t12661\t0\t0\t143\n7\t12685\t0\t1\t143\n7\t300\t0\t1\t12\n3\t12661\t0\t1\t143\n"
	tests := []struct {
		name, column, input string
		want                []ev
		wantErr             string
	}{
		{"problems (the item_id alias)", "", assist, []ev{{"7", "12661", 1}, {"7", "12685", 1}, {"7", "300", 1}, {"3", "12661", 1}}, ""},
		{"skills", "skill_id", assist, []ev{{"7", "143", 1}, {"7", "143", 1}, {"7", "12", 1}, {"3", "143", 1}}, ""},
		{"case-insensitive", "Skill_ID", assist, []ev{{"7", "143", 1}, {"7", "143", 1}, {"7", "12", 1}, {"3", "143", 1}}, ""},
		{"csv column that is no alias", "topic", "user,topic,item\na,t1,x\n", []ev{{"a", "t1", 1}}, ""},
		{"unknown column", "skill", assist, nil, `line 1: item column "skill": the header "user_id,item_id,timestamp,correct,skill_id" has no such column`},
		{"headerless file", "skill_id", "0\t4\t1\n", nil, `item column "skill_id": the header "0,4,1" has no such column`},
		{"xapi", "skill_id", `{"actor":{"mbox":"mailto:a@x.org"}}`, nil, `line 1: item column "skill_id": xAPI statements have no columns`},
		{"empty skill", "skill_id", "user_id\titem_id\tskill_id\n1\t2\t\n", nil, "line 2: 2 columns, want 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := ReadEvents(strings.NewReader(tc.input), ReadOptions{ItemColumn: tc.column})
			if tc.wantErr != "" {
				var re *RowError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want a *RowError containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := pairs(evs); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// The real ASSISTments 2009 training file: 220,070 attempts of 2,491
// learners at 17,339 problems of 149 skills, in row order.
func TestReadEventsAssist2009(t *testing.T) {
	for _, tc := range []struct {
		column string
		items  int
	}{{"", 17339}, {"skill_id", 149}} {
		f, err := os.Open("../../../shared/data/assist2009_gervet/preprocessed_data_train.csv.gz")
		if err != nil {
			t.Skipf("ASSISTments data not available: %v", err)
		}
		z, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := ReadEvents(z, ReadOptions{ItemColumn: tc.column})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		items, users := map[string]bool{}, map[string]bool{}
		for _, e := range evs {
			items[e.Item], users[e.User] = true, true
		}
		if len(evs) != 220070 || len(users) != 2491 || len(items) != tc.items || evs[0].Line != 2 || evs[len(evs)-1].Line != 220071 {
			t.Errorf("item column %q: %d events, %d learners, %d items, lines %d..%d", tc.column, len(evs), len(users), len(items), evs[0].Line, evs[len(evs)-1].Line)
		}
	}
}
