package xapi_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/learnstream/learnstream/domain/xapi"
)

func Example() {
	body := []byte(`[{
		"actor": {"account": {"homePage": "https://lms.example.com", "name": "learner-42"}},
		"verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
		"object": {"id": "https://content.example.com/course-7/au-1"},
		"result": {"completion": true, "duration": "PT12M38S"}
	}]`)
	statements, err := xapi.ParseStatements(body, xapi.Spec1)
	if err != nil {
		panic(err)
	}
	s := statements[0]
	stored := time.Date(2024, 5, 2, 9, 12, 40, 0, time.UTC)
	s.Prepare("2a0e8c0e-4b0a-4a4e-9c7e-0b8c1c6f9a03", stored, xapi.Agent{Mbox: "mailto:lrs@example.com"})
	fmt.Println(s.LearnerKey())
	out, _ := s.MarshalJSON()
	fmt.Println(string(out))
	// Output:
	// account:https://lms.example.com|learner-42
	// {"id":"2a0e8c0e-4b0a-4a4e-9c7e-0b8c1c6f9a03","actor":{"account":{"homePage":"https://lms.example.com","name":"learner-42"}},"verb":{"id":"http://adlnet.gov/expapi/verbs/completed","display":{"en-US":"completed"}},"object":{"objectType":"Activity","id":"https://content.example.com/course-7/au-1"},"result":{"completion":true,"duration":"PT12M38S"},"timestamp":"2024-05-02T09:12:40.000Z","stored":"2024-05-02T09:12:40.000Z","authority":{"mbox":"mailto:lrs@example.com"},"version":"1.0.0"}
}

func ExampleValidationError() {
	_, err := xapi.ParseStatements([]byte(`[
		{"actor": {"mbox": "mailto:a@example.com"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/attempted"}, "object": {"id": "https://example.com/a"}},
		{"actor": {"mbox": "b@example.com"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/attempted"}, "object": {"id": "https://example.com/a"}}
	]`), xapi.Spec1)
	var ve *xapi.ValidationError
	if errors.As(err, &ve) {
		fmt.Println(ve.Field)
		fmt.Println(ve.Rule)
	}
	// Output:
	// statements[1].actor.mbox
	// must be a mailto IRI: "mailto:" followed by one email address
}
