package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/learnstream/learnstream/streams"
)

func init() {
	commands["dlq"] = command{summary: "inspect and replay dead-letter topics (dlq list | dlq replay)", run: runDLQ}
}

var dlqTopics = []string{streams.TopicStatements, streams.TopicDocuments, streams.TopicCatalog,
	streams.TopicRecommendations, streams.TopicAdaptive}

func runDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		fmt.Fprintln(stderr, "usage: learnstream dlq list|replay [--topic T] [--kafka brokers]")
		return errUsage
	}
	verb := args[0]
	var kafka, topic string
	var limit int
	var asJSON bool
	fs := flag.NewFlagSet("dlq "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&kafka, "kafka", "127.0.0.1:9092", "Kafka bootstrap brokers (the embedded broker listens on --broker-listen)")
	fs.StringVar(&topic, "topic", streams.TopicStatements, "source topic whose DLQ to use: "+strings.Join(dlqTopics, ", "))
	fs.IntVar(&limit, "limit", 100, "most records to list")
	fs.BoolVar(&asJSON, "json", false, "print JSON lines (list)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if !slices.Contains(dlqTopics, topic) {
		return fmt.Errorf("--topic: %q is not a learnstream topic (%s)", topic, strings.Join(dlqTopics, ", "))
	}
	if limit < 1 {
		return fmt.Errorf("--limit: must be at least 1, got %d", limit)
	}
	brokers := strings.Split(kafka, ",")
	if verb == "replay" {
		pub, err := streams.NewPublisher(streams.PublisherConfig{Brokers: brokers})
		if err != nil {
			return err
		}
		defer pub.Close()
		n, err := streams.ReplayDLQ(ctx, brokers, topic, pub)
		if err != nil {
			return fmt.Errorf("replayed %d record(s), then: %w", n, err)
		}
		fmt.Fprintf(stdout, "replayed %d record(s) from %s to %s\n", n, streams.DLQ(topic), topic)
		return nil
	}
	dls, err := streams.ListDLQ(ctx, brokers, topic, limit)
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
		fmt.Fprintf(tw, "%d/%d\t%s\t%s/%d@%d\t%s\t%s\t%s\n", d.Partition, d.Offset, d.Time.UTC().Format("2006-01-02T15:04:05Z"),
			d.SourceTopic, d.SourcePartition, d.SourceOffset, d.Consumer, d.EventID, d.Reason)
	}
	fmt.Fprintf(tw, "%d record(s)\n", len(dls))
	return tw.Flush()
}
