package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/learnstream/learnstream/streams/kafkatest"
)

// bigStatement is a valid statement of about size bytes: the bulk is one
// result extension.
func bigStatement(i, size int) string {
	const head = `{"actor":{"mbox":"mailto:big%d@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},` +
		`"object":{"id":"https://example.com/q/%d"},"result":{"response":"x","extensions":{"https://example.com/ext/blob":"`
	h := fmt.Sprintf(head, i, i)
	const tail = `"}}}`
	return h + strings.Repeat("a", max(size-len(h)-len(tail), 0)) + tail
}

// Statements between Kafka's default message size (about 1 MiB) and the
// body limit are stored and readable: the topic, broker and producer limits
// follow --max-body-bytes. Before, they answered 503 "retry later" forever.
func TestFaultOversizedStatementIsStoredUpToTheBodyLimit(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		p := startServe(t, credEnv(), append(append([]string{"--data-dir", t.TempDir()}, kafkaArgs(c)...), isolate()...)...)
		const bodyLimit = 16 << 20
		var acked, stored int
		sizes := []int{2 << 20, bodyLimit - 64<<10}
		for i, size := range sizes {
			code, _, body := p.do(t, "POST", "/xapi/statements", bigStatement(i, size))
			if code != http.StatusOK {
				t.Errorf("POST of a %d-byte statement: %d %.300s", size, code, body)
				continue
			}
			acked++
			var ids []string
			if err := json.Unmarshal(body, &ids); err != nil || len(ids) != 1 {
				t.Fatalf("POST answered %.300s", body)
			}
			code, _, body = p.do(t, "GET", "/xapi/statements?statementId="+ids[0], "")
			if code != http.StatusOK || len(body) < size {
				t.Errorf("GET of the %d-byte statement: %d, %d bytes", size, code, len(body))
				continue
			}
			stored++
		}
		// One byte over the body limit is refused at once, naming the limit.
		code, _, body := p.do(t, "POST", "/xapi/statements", bigStatement(9, bodyLimit+1))
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "16777216") {
			t.Errorf("POST over the body limit: %d %.300s, want 413 naming 16777216", code, body)
		}
		t.Logf("oversized statements (%s): sent %d, acknowledged %d, stored %d, lost %d", c.Name, len(sizes), acked, stored, acked-stored)
		if acked != len(sizes) || stored != acked {
			t.Errorf("acknowledged %d of %d, stored %d", acked, len(sizes), stored)
		}
	})
}
