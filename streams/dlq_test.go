package streams_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/learnstream/learnstream/api"
	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
	"github.com/learnstream/learnstream/streams/kafkatest"
)

// Dead letters of an erased learner are listed as erased, without their
// value, never replayed, and counted for the erasure's answer.
func TestDeadLettersOfErasedLearners(t *testing.T) {
	c := kafkatest.Embedded(t)
	ctx := context.Background()
	if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{
		{Name: streams.TopicStatements, Partitions: 2, Replication: 1}, {Name: streams.DLQ(streams.TopicStatements), Partitions: 2, Replication: 1},
		{Name: streams.TopicPrivacy, Partitions: 2, Replication: 1}}); err != nil {
		t.Fatal(err)
	}
	erased, kept := forgetSecret.Pseudonym("t1", "mbox:mailto:gone@example.com"), forgetSecret.Pseudonym("t1", "mbox:mailto:stays@example.com")
	pub, err := streams.NewPublisher(streams.PublisherConfig{Brokers: c.Brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	dead := func(i int, tenant, key string) {
		e, err := event.New(fmt.Sprintf("d%d", i), event.TypeStatementStored, "test", tenant, key, time.Now(), []byte(`{"sealed":"…"}`))
		if err != nil {
			t.Fatal(err)
		}
		m := streams.NewMessage(e)
		m.Metadata.Set(event.HeaderDLQReason, "data: rejected")
		m.Metadata.Set("dlq_topic", streams.TopicStatements)
		if err := pub.Publish(streams.DLQ(streams.TopicStatements), m); err != nil {
			t.Fatal(err)
		}
	}
	dead(1, "t1", erased)
	dead(2, "t1", kept)
	dead(3, "t1", erased)
	dead(4, "t2", erased) // the same key in another tenant is another learner
	// A consumer that crashed between parking a record and committing
	// past it parks it again: the second is a copy. Another consumer's
	// record of the same source is not.
	parked := func(id, consumer string) {
		e, err := event.New(id, event.TypeStatementStored, "test", "t1", kept, time.Now(), []byte(`{"sealed":"…"}`))
		if err != nil {
			t.Fatal(err)
		}
		m := streams.NewMessage(e)
		m.Metadata.Set(event.HeaderDLQReason, "data: rejected")
		m.Metadata.Set("dlq_topic", streams.TopicStatements)
		m.Metadata.Set("dlq_partition", "1")
		m.Metadata.Set("dlq_offset", "7")
		m.Metadata.Set("dlq_consumer", consumer)
		if err := pub.Publish(streams.DLQ(streams.TopicStatements), m); err != nil {
			t.Fatal(err)
		}
	}
	parked("p1", "progress")
	parked("p2", "progress")
	parked("s1", "statements")
	b, _ := json.Marshal(privacy.ErasureRequested{Erasure: "er1", Pseudonym: erased, Tenant: "t1", Reason: "request"})
	req, err := event.New("er1", privacy.TypeErasureRequested, "test", "t1", erased, time.Now(), b)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(streams.TopicPrivacy, streams.NewMessage(req)); err != nil {
		t.Fatal(err)
	}

	dls, err := streams.ListDLQ(ctx, c.Brokers, streams.TopicStatements, 10)
	if err != nil {
		t.Fatal(err)
	}
	got, copies := map[string]bool{}, map[string]bool{}
	for _, d := range dls {
		got[d.EventID] = d.Erased
		copies[d.EventID] = d.Copy
		if d.Erased != (d.Value == nil) {
			t.Errorf("%s: erased %v with a value of %d bytes", d.EventID, d.Erased, len(d.Value))
		}
	}
	want := map[string]bool{"d1": true, "d2": false, "d3": true, "d4": false, "p1": false, "p2": false, "s1": false}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("listed erased %v, want %v", got, want)
	}
	wantCopies := map[string]bool{"d1": false, "d2": false, "d3": false, "d4": false, "p1": false, "p2": true, "s1": false}
	if fmt.Sprint(copies) != fmt.Sprint(wantCopies) {
		t.Errorf("listed copies %v, want %v", copies, wantCopies)
	}
	for _, tc := range []struct {
		tenant, pseudonym string
		want              int64
	}{{"t1", erased, 2}, {"t1", kept, 3}, {"t2", erased, 1}, {"t3", erased, 0}} {
		if n, err := streams.CountDeadLetters(ctx, c.Brokers, tc.tenant, tc.pseudonym); err != nil || n != tc.want {
			t.Errorf("CountDeadLetters(%s, %s) = %d, %v; want %d", tc.tenant, tc.pseudonym, n, err, tc.want)
		}
	}
	sent, skipped, copied, err := streams.ReplayDLQ(ctx, c.Brokers, streams.TopicStatements, pub)
	if err != nil || sent != 4 || skipped != 2 || copied != 1 {
		t.Fatalf("replay sent %d, skipped %d erased and %d copies (%v); want 4, 2 and 1", sent, skipped, copied, err)
	}
	ends, err := streams.EndOffsets(ctx, c.Brokers, streams.TopicStatements)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ends {
		n += e
	}
	if n != 4 {
		t.Errorf("%d records replayed to the source topic, want 4", n)
	}
	// A second replay has nothing left to send, copies included.
	if sent, skipped, copied, err := streams.ReplayDLQ(ctx, c.Brokers, streams.TopicStatements, pub); err != nil || sent+skipped+copied != 0 {
		t.Errorf("second replay sent %d, skipped %d and %d copies (%v); want nothing", sent, skipped, copied, err)
	}
}

// The recommendations feed (SSE) passes only RecommendationsUpdated: the
// erasures and retentions on the topic are for its consumers.
func TestRecommendationFeedLeavesOutPrivacyEvents(t *testing.T) {
	c := kafkatest.Embedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := streams.EnsureTopics(ctx, c.Brokers, []streams.TopicSpec{{Name: streams.TopicRecommendations, Partitions: 1, Replication: 1, Compact: true}}); err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(projections.RecommendationsUpdated{Learner: "mbox:mailto:a@example.com"})
	mk := func(id, typ, key string, data []byte) event.Event {
		e, err := event.New(id, typ, "test", "t1", key, time.Now(), data)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	p := forgetSecret.Pseudonym("t1", "mbox:mailto:a@example.com")
	erased, _ := json.Marshal(privacy.LearnerErased{Erasure: "er1", Pseudonym: p})
	publish(t, c.Brokers, streams.TopicRecommendations, []event.Event{
		mk("r1", projections.TypeRecommendationsUpdated, "mbox:mailto:a@example.com", rec),
		mk("x1", privacy.TypeLearnerErased, p, erased),
		mk("r2", projections.TypeRecommendationsUpdated, "mbox:mailto:b@example.com", rec),
	})
	out := make(chan api.FeedRecord, 10)
	go streams.RecommendationFeed{Brokers: c.Brokers, Topic: streams.TopicRecommendations}.Follow(ctx, nil, true, out)
	var got []string
	for len(got) < 2 {
		select {
		case r := <-out:
			got = append(got, r.ID)
		case <-ctx.Done():
			t.Fatalf("feed gave %v", got)
		}
	}
	select {
	case r := <-out:
		got = append(got, r.ID)
	case <-time.After(time.Second):
	}
	if fmt.Sprint(got) != "[r1 r2]" {
		t.Errorf("feed gave %v, want [r1 r2]", got)
	}
}
