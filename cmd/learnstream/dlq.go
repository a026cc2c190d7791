package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/learnstream/learnstream/streams"
)

func init() {
	commands["dlq"] = command{
		summary: "inspect and replay dead-letter topics (dlq list | dlq replay)",
		subs: map[string]command{
			"list":   {summary: "print the records of a topic's dead-letter queue with the reason each was rejected", run: runDLQList},
			"replay": {summary: "publish a dead-letter queue's records back to their source topic", run: runDLQReplay},
		},
	}
}

var dlqTopics = []string{streams.TopicStatements, streams.TopicDocuments, streams.TopicCatalog,
	streams.TopicRecommendations, streams.TopicAdaptive, streams.TopicCredentials}

// dlqFlags are the flags dlq list and dlq replay share.
type dlqFlags struct {
	kafka, topic, dataDir string
	security              kafkaSecurity
}

func (d *dlqFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&d.kafka, "kafka", "127.0.0.1:9092", "Kafka bootstrap brokers (the embedded broker listens on --broker-listen)")
	fs.StringVar(&d.topic, "topic", streams.TopicStatements, "source topic whose DLQ to use: "+strings.Join(dlqTopics, ", "))
	fs.StringVar(&d.dataDir, "data-dir", "./data", "data directory of the embedded broker, whose SASL credential is used when no --kafka-sasl-mechanism is given")
	d.security.flags(fs, false)
}

// validate checks the flags and registers how to reach the brokers: the
// --kafka-sasl-*/--kafka-tls flags, or else the embedded broker's
// credential in --data-dir when there is one.
func (d *dlqFlags) validate() error {
	if !slices.Contains(dlqTopics, d.topic) {
		return fmt.Errorf("--topic: %q is not a learnstream topic (%s)", d.topic, strings.Join(dlqTopics, ", "))
	}
	if err := errors.Join(d.security.validate(true)...); err != nil {
		return err
	}
	sec, err := d.security.externalSecurity()
	if err != nil {
		return err
	}
	if sec.Mechanism == "" {
		if _, err := os.Stat(filepath.Join(d.dataDir, brokerCredentialFile)); err == nil {
			password, _, err := brokerCredential(d.dataDir)
			if err != nil {
				return fmt.Errorf("--data-dir: %w", err)
			}
			sec.Mechanism, sec.User, sec.Password = streams.SASLScramSHA256, brokerUser, password
		}
	}
	return streams.Secure(d.brokers(), sec)
}

func (d *dlqFlags) brokers() []string { return strings.Split(d.kafka, ",") }

func runDLQReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var d dlqFlags
	fs := newFlagSet("dlq replay", stderr)
	d.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := d.validate(); err != nil {
		return err
	}
	pub, err := streams.NewPublisher(streams.PublisherConfig{Brokers: d.brokers()})
	if err != nil {
		return err
	}
	defer pub.Close()
	n, skipped, copies, err := streams.ReplayDLQ(ctx, d.brokers(), d.topic, pub)
	if err != nil {
		return fmt.Errorf("replayed %d record(s), skipped %d of erased learners and %d copies, then: %w", n, skipped, copies, err)
	}
	fmt.Fprintf(stdout, "replayed %d record(s) from %s to %s\n", n, streams.DLQ(d.topic), d.topic)
	if skipped > 0 {
		fmt.Fprintf(stdout, "skipped %d record(s) of erased learners: erased, never replayed\n", skipped)
	}
	if copies > 0 {
		fmt.Fprintf(stdout, "skipped %d copies: records a consumer parked again after a crash, replayed once\n", copies)
	}
	return nil
}

func runDLQList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var d dlqFlags
	var limit int
	var asJSON bool
	fs := newFlagSet("dlq list", stderr)
	d.flags(fs)
	fs.IntVar(&limit, "limit", 100, "most records to list")
	fs.BoolVar(&asJSON, "json", false, "print JSON lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := d.validate(); err != nil {
		return err
	}
	if limit < 1 {
		return fmt.Errorf("--limit: must be at least 1, got %d", limit)
	}
	dls, err := streams.ListDLQ(ctx, d.brokers(), d.topic, limit)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, d := range dls {
			if err := enc.Encode(d); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OFFSET\tTIME\tSOURCE\tCONSUMER\tEVENT\tREASON")
	for _, d := range dls {
		reason := d.Reason
		switch {
		case d.Erased:
			// The learner is erased: nothing of the record is shown.
			reason = "erased"
		case d.Copy:
			reason = "copy (parked again): " + reason
		}
		fmt.Fprintf(tw, "%d/%d\t%s\t%s/%d@%d\t%s\t%s\t%s\n", d.Partition, d.Offset, d.Time.UTC().Format("2006-01-02T15:04:05Z"),
			d.SourceTopic, d.SourcePartition, d.SourceOffset, d.Consumer, d.EventID, reason)
	}
	fmt.Fprintf(tw, "%d record(s)\n", len(dls))
	return tw.Flush()
}
