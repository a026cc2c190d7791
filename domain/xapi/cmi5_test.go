package xapi

import (
	"strings"
	"testing"
)

// A cmi5 session as an LMS and an assignable unit (AU) record it: the LMS
// writes "launched", the AU "initialized", "completed", "passed" or
// "failed" and "terminated", the LMS then "satisfied" for the course. Every
// statement carries the registration, the session id extension and the cmi5
// category; the ones that count for move-on carry the moveon category too.
const cmi5Session = `[
{
  "id": "2a0e8c0e-4b0a-4a4e-9c7e-0b8c1c6f9a01",
  "timestamp": "2024-05-02T09:00:00.000Z",
  "actor": {"objectType": "Agent", "name": "Ana Lima", "account": {"homePage": "https://lms.example.com", "name": "learner-42"}},
  "verb": {"id": "http://adlnet.gov/expapi/verbs/launched", "display": {"en-US": "Launched"}},
  "object": {"objectType": "Activity", "id": "https://content.example.com/course-7/au-1",
    "definition": {"name": {"en-US": "Safety basics"}, "type": "http://adlnet.gov/expapi/activities/lesson"}},
  "context": {
    "registration": "6b0b4f6a-8f0d-4d8e-bf3c-2f1a8e0f5c11",
    "contextActivities": {
      "category": [{"objectType": "Activity", "id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}],
      "grouping": [{"objectType": "Activity", "id": "https://content.example.com/course-7"}]
    },
    "extensions": {
      "https://w3id.org/xapi/cmi5/context/extensions/sessionid": "e5c1f6a2-30f4-4b55-9e5f-1d2c3b4a5f60",
      "https://w3id.org/xapi/cmi5/context/extensions/launchmode": "Normal",
      "https://w3id.org/xapi/cmi5/context/extensions/launchurl": "https://content.example.com/course-7/au-1/index.html",
      "https://w3id.org/xapi/cmi5/context/extensions/moveon": "CompletedAndPassed",
      "https://w3id.org/xapi/cmi5/context/extensions/launchparameters": "{\"level\":2}",
      "https://w3id.org/xapi/cmi5/context/extensions/masteryscore": 0.8
    }
  }
},
{
  "id": "2a0e8c0e-4b0a-4a4e-9c7e-0b8c1c6f9a02",
  "timestamp": "2024-05-02T09:00:02.250Z",
  "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.example.com", "name": "learner-42"}},
  "verb": {"id": "http://adlnet.gov/expapi/verbs/initialized", "display": {"en-US": "initialized"}},
  "object": {"objectType": "Activity", "id": "https://content.example.com/course-7/au-1"},
  "context": {
    "registration": "6b0b4f6a-8f0d-4d8e-bf3c-2f1a8e0f5c11",
    "contextActivities": {
      "category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}],
      "grouping": [{"id": "https://content.example.com/course-7"}]
    },
    "extensions": {"https://w3id.org/xapi/cmi5/context/extensions/sessionid": "e5c1f6a2-30f4-4b55-9e5f-1d2c3b4a5f60"}
  }
},
{
  "id": "2a0e8c0e-4b0a-4a4e-9c7e-0b8c1c6f9a03",
  "timestamp": "2024-05-02T09:12:40.000+02:00",
  "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.example.com", "name": "learner-42"}},
  "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
  "object": {"objectType": "Activity", "id": "https://content.example.com/course-7/au-1"},
  "result": {"completion": true, "duration": "PT12M38S", "extensions": {"https://w3id.org/xapi/cmi5/result/extensions/progress": 100}},
  "context": {
    "registration": "6b0b4f6a-8f0d-4d8e-bf3c-2f1a8e0f5c11",
    "contextActivities": {
      "category": [
        {"id": "https://w3id.org/xapi/cmi5/context/categories/moveon"},
        {"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}
      ],
      "grouping": [{"id": "https://content.example.com/course-7"}]
    },
    "extensions": {"https://w3id.org/xapi/cmi5/context/extensions/sessionid": "e5c1f6a2-30f4-4b55-9e5f-1d2c3b4a5f60"}
  }
},
{
  "id": "2a0e8c0e-4b0a-4a4e-9c7e-0b8c1c6f9a04",
  "timestamp": "2024-05-02T09:13:05.120Z",
  "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.example.com", "name": "learner-42"}},
  "verb": {"id": "http://adlnet.gov/expapi/verbs/passed", "display": {"en-US": "passed"}},
  "object": {"objectType": "Activity", "id": "https://content.example.com/course-7/au-1"},
  "result": {"success": true, "score": {"scaled": 0.85, "raw": 85, "min": 0, "max": 100}, "duration": "PT13M3.12S"},
  "context": {
    "registration": "6b0b4f6a-8f0d-4d8e-bf3c-2f1a8e0f5c11",
    "contextActivities": {
      "category": [
        {"id": "https://w3id.org/xapi/cmi5/context/categories/moveon"},
        {"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}
      ],
      "grouping": [{"id": "https://content.example.com/course-7"}]
    },
    "extensions": {
      "https://w3id.org/xapi/cmi5/context/extensions/sessionid": "e5c1f6a2-30f4-4b55-9e5f-1d2c3b4a5f60",
      "https://w3id.org/xapi/cmi5/context/extensions/masteryscore": 0.8
    }
  }
},
{
  "id": "2a0e8c0e-4b0a-4a4e-9c7e-0b8c1c6f9a05",
  "timestamp": "2024-05-02T09:13:10.000Z",
  "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.example.com", "name": "learner-42"}},
  "verb": {"id": "http://adlnet.gov/expapi/verbs/terminated", "display": {"en-US": "terminated"}},
  "object": {"objectType": "Activity", "id": "https://content.example.com/course-7/au-1"},
  "result": {"duration": "PT13M10S"},
  "context": {
    "registration": "6b0b4f6a-8f0d-4d8e-bf3c-2f1a8e0f5c11",
    "contextActivities": {
      "category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}],
      "grouping": [{"id": "https://content.example.com/course-7"}]
    },
    "extensions": {"https://w3id.org/xapi/cmi5/context/extensions/sessionid": "e5c1f6a2-30f4-4b55-9e5f-1d2c3b4a5f60"}
  }
},
{
  "id": "2a0e8c0e-4b0a-4a4e-9c7e-0b8c1c6f9a06",
  "timestamp": "2024-05-02T09:13:11.000Z",
  "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.example.com", "name": "learner-42"}},
  "verb": {"id": "https://w3id.org/xapi/adl/verbs/satisfied", "display": {"en-US": "satisfied"}},
  "object": {"objectType": "Activity", "id": "https://content.example.com/course-7",
    "definition": {"type": "https://w3id.org/xapi/cmi5/activitytype/course"}},
  "context": {
    "registration": "6b0b4f6a-8f0d-4d8e-bf3c-2f1a8e0f5c11",
    "contextActivities": {
      "category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}],
      "grouping": [{"id": "https://content.example.com/course-7"}]
    },
    "extensions": {"https://w3id.org/xapi/cmi5/context/extensions/sessionid": "e5c1f6a2-30f4-4b55-9e5f-1d2c3b4a5f60"}
  }
}
]`

// cmi5Failed is an AU's "failed" after a retry in a second session.
const cmi5Failed = `{
  "id": "2a0e8c0e-4b0a-4a4e-9c7e-0b8c1c6f9a07",
  "timestamp": "2024-05-03T10:00:00.000Z",
  "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.example.com", "name": "learner-42"}},
  "verb": {"id": "http://adlnet.gov/expapi/verbs/failed", "display": {"en-US": "failed"}},
  "object": {"objectType": "Activity", "id": "https://content.example.com/course-7/au-2"},
  "result": {"success": false, "score": {"scaled": 0.4}, "duration": "PT4M"},
  "context": {
    "registration": "6b0b4f6a-8f0d-4d8e-bf3c-2f1a8e0f5c11",
    "contextActivities": {
      "category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/moveon"}, {"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}],
      "grouping": [{"id": "https://content.example.com/course-7"}]
    },
    "extensions": {"https://w3id.org/xapi/cmi5/context/extensions/sessionid": "0c9d8e7f-6a5b-4c3d-8e1f-2a3b4c5d6e7f"}
  }
}`

// authoringToolAnswered is a quiz answer the way authoring tools record it:
// a cmi.interaction with its choices, the learner's response and the parent
// quiz, using mbox and a bare (non-array) grouping from older players.
const authoringToolAnswered = `{
  "actor": {"name": "Bo", "mbox": "mailto:bo@example.com"},
  "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"und": "answered"}},
  "object": {
    "id": "http://example.com/quiz-3/q5",
    "objectType": "Activity",
    "definition": {
      "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
      "name": {"und": "Which are primary colours?"},
      "interactionType": "choice",
      "correctResponsesPattern": ["red[,]blue[,]yellow"],
      "choices": [
        {"id": "red", "description": {"und": "Red"}},
        {"id": "green", "description": {"und": "Green"}},
        {"id": "blue", "description": {"und": "Blue"}},
        {"id": "yellow", "description": {"und": "Yellow"}}
      ]
    }
  },
  "result": {"score": {"scaled": 1, "raw": 10, "min": 0, "max": 10}, "response": "red[,]blue[,]yellow", "success": true, "duration": "PT0H0M7.35S"},
  "context": {
    "registration": "58a21e8f-56f4-4c68-9bd9-0fb94cd7b6ac",
    "contextActivities": {
      "parent": [{"id": "http://example.com/quiz-3", "objectType": "Activity"}],
      "grouping": {"id": "http://example.com/course-3", "objectType": "Activity"}
    }
  },
  "timestamp": "2024-05-02T09:05:07+02:00"
}`

func TestCmi5Session(t *testing.T) {
	list, err := ParseStatements([]byte(cmi5Session), Spec1)
	if err != nil {
		t.Fatal(err)
	}
	failed := mustParse(t, cmi5Failed)
	list = append(list, failed)
	wantVerbs := []string{"launched", "initialized", "completed", "passed", "terminated", "satisfied", "failed"}
	if len(list) != len(wantVerbs) {
		t.Fatalf("got %d statements", len(list))
	}
	const session = "https://w3id.org/xapi/cmi5/context/extensions/sessionid"
	for i, s := range list {
		if !strings.HasSuffix(s.Verb.ID, "/"+wantVerbs[i]) {
			t.Errorf("statement %d: verb %s, want %s", i, s.Verb.ID, wantVerbs[i])
		}
		if got := s.LearnerKey(); got != "account:https://lms.example.com|learner-42" {
			t.Errorf("statement %d: LearnerKey = %q", i, got)
		}
		if !hasCategory(s, "https://w3id.org/xapi/cmi5/context/categories/cmi5") {
			t.Errorf("statement %d: cmi5 category lost", i)
		}
		if _, ok := s.Context.Extensions[session]; !ok {
			t.Errorf("statement %d: session id lost", i)
		}
		if s.Context.Registration != "6b0b4f6a-8f0d-4d8e-bf3c-2f1a8e0f5c11" {
			t.Errorf("statement %d: registration = %q", i, s.Context.Registration)
		}
		// What the LRS stores must read back as the same statement.
		s2 := mustParse(t, mustJSON(t, s))
		if !Equivalent(s, s2) || mustJSON(t, s2) != mustJSON(t, s) {
			t.Errorf("statement %d does not survive a round trip", i)
		}
	}

	launched, completed, passed := list[0], list[2], list[3]
	if got := string(launched.Context.Extensions["https://w3id.org/xapi/cmi5/context/extensions/launchparameters"]); got != `"{\"level\":2}"` {
		t.Errorf("launchparameters = %s", got)
	}
	if got := string(passed.Context.Extensions["https://w3id.org/xapi/cmi5/context/extensions/masteryscore"]); got != "0.8" {
		t.Errorf("masteryscore = %s", got)
	}
	if !hasCategory(completed, "https://w3id.org/xapi/cmi5/context/categories/moveon") || *completed.Result.Completion != true {
		t.Errorf("completed: %+v", completed.Result)
	}
	if completed.Timestamp.Hour() != 7 {
		t.Errorf("completed timestamp not converted to UTC: %v", completed.Timestamp)
	}
	if r := passed.Result; !*r.Success || *r.Score.Scaled != 0.85 || *r.Score.Raw != 85 {
		t.Errorf("passed result: %+v", r.Score)
	}
	if r := failed.Result; *r.Success || *r.Score.Scaled != 0.4 {
		t.Errorf("failed result: %+v", r)
	}
	d, err := ParseDuration(passed.Result.Duration)
	if err != nil || d.Minutes != 13 || d.Seconds != 3.12 {
		t.Errorf("passed duration = %+v, %v", d, err)
	}
}

func TestCmi5Rejections(t *testing.T) {
	// Mistakes seen in hand-written cmi5 content.
	runRejects(t, []rejectCase{
		{"session id extension key without scheme", strings.Replace(cmi5Failed, `"https://w3id.org/xapi/cmi5/context/extensions/sessionid"`, `"sessionid"`, 1),
			`context.extensions["sessionid"]`, "IRI"},
		{"category as a bare IRI", strings.Replace(cmi5Failed, `{"id": "https://w3id.org/xapi/cmi5/context/categories/moveon"}`, `"https://w3id.org/xapi/cmi5/context/categories/moveon"`, 1),
			"context.contextActivities.category[0]", "must be an object, not a string"},
		{"score as a percentage", strings.Replace(cmi5Failed, `"scaled": 0.4`, `"scaled": 40`, 1),
			"result.score.scaled", "between -1 and 1"},
		{"success as a string", strings.Replace(cmi5Failed, `"success": false`, `"success": "false"`, 1),
			"result.success", "must be a boolean, not a string"},
		{"duration in seconds", strings.Replace(cmi5Failed, `"PT4M"`, `"240"`, 1),
			"result.duration", "ISO 8601 duration"},
		{"registration not a UUID", strings.Replace(cmi5Failed, `"6b0b4f6a-8f0d-4d8e-bf3c-2f1a8e0f5c11"`, `"reg-1"`, 1),
			"context.registration", "UUID"},
	})
}

func TestAuthoringToolAnswered(t *testing.T) {
	s := mustParse(t, authoringToolAnswered)
	if s.ID != "" {
		t.Errorf("id = %q, want none (the LRS assigns it)", s.ID)
	}
	if got := s.Context.ContextActivities.Grouping; len(got) != 1 || got[0].ID != "http://example.com/course-3" {
		t.Errorf("single grouping not turned into a list: %+v", got)
	}
	if !strings.Contains(mustJSON(t, s), `"grouping":[{"objectType":"Activity","id":"http://example.com/course-3"}]`) {
		t.Errorf("grouping not written as an array: %s", mustJSON(t, s))
	}
	d := s.Object.Activity.Definition
	if d.InteractionType != "choice" || len(d.Choices) != 4 || d.CorrectResponsesPattern[0] != "red[,]blue[,]yellow" {
		t.Errorf("definition = %+v", d)
	}
	if got := s.Format(FormatCanonical, []string{"en-US"}).Verb.Display; got["und"] != "answered" {
		t.Errorf("canonical display = %v", got)
	}
}

func hasCategory(s *Statement, id string) bool {
	if s.Context == nil || s.Context.ContextActivities == nil {
		return false
	}
	for _, a := range s.Context.ContextActivities.Category {
		if a.ID == id {
			return true
		}
	}
	return false
}
