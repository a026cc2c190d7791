package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// TestActivityRedefinedAcrossInteractionTypesDoesNotWedge replays what
// ADL's conformance suite did (issue 17): one learner's statements define
// an activity as a likert interaction, then as a matching one, then go on.
// Every write is answered as soon as it is projected, not after the
// consistency timeout; every statement is readable right after its write;
// the Activities resource serves the merged definition without the likert
// scale; and the consistency header never runs ahead of what is readable.
func TestActivityRedefinedAcrossInteractionTypesDoesNotWedge(t *testing.T) {
	kafkatest.Each(t, func(t *testing.T, c kafkatest.Cluster) {
		args := append(append([]string{"--data-dir", t.TempDir()}, kafkaArgs(c)...), isolate()...)
		p := startServe(t, credEnv(), args...)
		defer p.stop(t)

		act := "http://www.example.com/verify/" + kafkatest.Unique("likert")
		// One actor: one key, one partition, as with the suite's default actor.
		stmt := func(def string) string {
			obj := `{"id":"` + act + `"`
			if def != "" {
				obj += `,"definition":` + def
			}
			return `{"actor":{"mbox":"mailto:conformance@example.com"},"verb":{"id":"http://adlnet.gov/expapi/verbs/answered"},"object":` + obj + `}}`
		}
		writes := []string{
			stmt(`{"name":{"en-US":"Rate it"},"interactionType":"likert","correctResponsesPattern":["likert_3"],` +
				`"scale":[{"id":"likert_0","description":{"en-US":"bad"}},{"id":"likert_3","description":{"en-US":"good"}}]}`),
			stmt(`{"name":{"fr-FR":"Associez"},"interactionType":"matching","correctResponsesPattern":["a[.]1"],` +
				`"source":[{"id":"a"}],"target":[{"id":"1"}]}`),
			stmt(`{"interactionType":"matching","source":[{"id":"a","description":{"en-US":"A"}}],"target":[{"id":"1"}]}`),
			stmt(""),
			stmt(`{"description":{"de":"Zuordnen"}}`),
		}
		for i, body := range writes {
			start := time.Now()
			code, _, resp := p.do(t, "POST", "/xapi/statements", body)
			took := time.Since(start)
			if code != http.StatusOK {
				t.Fatalf("POST %d: %d %s", i, code, resp)
			}
			// The consistency timeout is 10 s; a write answered near it was
			// not projected.
			if took > 5*time.Second {
				t.Fatalf("POST %d took %v: the statements projection did not apply it", i, took)
			}
			var ids []string
			if err := json.Unmarshal(resp, &ids); err != nil || len(ids) != 1 {
				t.Fatalf("POST %d answered %s", i, resp)
			}
			code, h, got := p.do(t, "GET", "/xapi/statements?statementId="+ids[0], "")
			if code != http.StatusOK {
				t.Fatalf("statement %d not readable right after its write: %d %s", i, code, got)
			}
			var st struct {
				Stored time.Time `json:"stored"`
			}
			if err := json.Unmarshal(got, &st); err != nil {
				t.Fatal(err)
			}
			// The header is the minimum over every partition: on a shared
			// broker a fresh server may still be catching up on other
			// partitions' backlog, so it may lag for a while, but it must
			// come to cover what is readable.
			deadline := time.Now().Add(60 * time.Second)
			for {
				through, err := time.Parse(time.RFC3339Nano, h.Get("X-Experience-API-Consistent-Through"))
				if err != nil {
					t.Fatalf("X-Experience-API-Consistent-Through %q: %v", h.Get("X-Experience-API-Consistent-Through"), err)
				}
				if !through.Before(st.Stored) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("statement %d stored %v is readable, but the header says consistent only through %v", i, st.Stored, through)
				}
				time.Sleep(100 * time.Millisecond)
				_, h, _ = p.do(t, "GET", "/xapi/statements?statementId="+ids[0], "")
			}
		}
		code, _, got := p.do(t, "GET", "/xapi/activities?activityId="+url.QueryEscape(act), "")
		if code != http.StatusOK {
			t.Fatalf("GET /activities: %d %s", code, got)
		}
		want := `{"objectType":"Activity","id":"` + act + `","definition":{"name":{"en-US":"Rate it","fr-FR":"Associez"},` +
			`"description":{"de":"Zuordnen"},"interactionType":"matching","correctResponsesPattern":["a[.]1"],` +
			`"source":[{"id":"a","description":{"en-US":"A"}}],"target":[{"id":"1"}]}}`
		if string(bytes.TrimSpace(got)) != want {
			t.Fatalf("GET /activities\n got %s\nwant %s", got, want)
		}
		code, _, got = p.do(t, "GET", "/xapi/statements?format=canonical&activity="+url.QueryEscape(act), "")
		if code != http.StatusOK {
			t.Fatalf("GET format=canonical: %d %s", code, got)
		}
	})
}

// /readyz fails while a consumer is stuck, naming it, and without asking
// the broker (which may be what is failing).
func TestReadinessReportsAStuckConsumer(t *testing.T) {
	health := streams.NewHealth()
	health.StuckAfter = time.Millisecond
	health.Failed("statements", streams.TopicStatements, 2, 41, errors.New("badger: writes are blocked"))
	time.Sleep(5 * time.Millisecond)
	err := readiness([]string{"127.0.0.1:1"}, health, func(context.Context) error { return nil })(context.Background())
	if err == nil || !strings.Contains(err.Error(), "consumer statements stuck on "+streams.TopicStatements+"/2 at offset 41") ||
		!strings.Contains(err.Error(), "badger: writes are blocked") {
		t.Fatalf("readiness = %v", err)
	}
	health.Progressed("statements", streams.TopicStatements, 2)
	if err := readiness([]string{"127.0.0.1:1"}, health, func(context.Context) error { return nil })(context.Background()); err == nil || !strings.Contains(err.Error(), "kafka") {
		t.Fatalf("readiness without a broker = %v, want the broker's error", err)
	}
}
