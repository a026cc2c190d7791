package main

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
	"github.com/learnstream/learnstream/projections"
	"github.com/learnstream/learnstream/streams"
)

// serveDataDirs maps the Kafka bootstrap address of a serve process under
// test to its data dir, where its generated privacy master key is.
var serveDataDirs sync.Map

// recordOpener returns what a consumer of the server at broker sees of a
// raw record's data: opened with the server's key store. It fails the
// test when a personal event travels in clear, so the schema checks
// built on it check the log is sealed as well as well-formed.
func recordOpener(t *testing.T, ctx context.Context, broker string) func(m kafka.Message) []byte {
	t.Helper()
	dir, ok := serveDataDirs.Load(broker)
	if !ok {
		t.Fatalf("no serve process known for broker %s", broker)
	}
	keys, _, err := streams.LoadMasterKeys(filepath.Join(dir.(string), streams.MasterKeyFile), "")
	if err != nil {
		t.Fatalf("the server's generated master key: %v", err)
	}
	v, err := streams.OpenVault(ctx, streams.VaultConfig{Brokers: []string{broker}, Master: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return func(m kafka.Message) []byte {
		t.Helper()
		hs := make([]event.Header, len(m.Headers))
		for i, h := range m.Headers {
			hs[i] = event.Header{Key: h.Key, Value: h.Value}
		}
		e, err := event.FromHeaders(hs, m.Key, m.Value)
		if err != nil || m.Value == nil {
			return m.Value
		}
		_, sealed := e.Extensions[privacy.ExtSealed]
		if privacy.Personal(e.Type) && !sealed && e.Type != projections.TypeDocument {
			t.Errorf("personal event %s %s travels in clear on %s", e.Type, e.ID, m.Topic)
		}
		if sealed && !privacy.IsPseudonym(strings.TrimPrefix(string(m.Key), "learner_role:")) {
			t.Errorf("sealed event %s is keyed %q, not by a pseudonym", e.ID, m.Key)
		}
		o, err := privacy.OpenEvent(ctx, e, v)
		if err != nil {
			t.Errorf("event %s does not open: %v", e.ID, err)
			return m.Value
		}
		return o.Data
	}
}
