package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FeedRecord is one record of the recommendations topic.
type FeedRecord struct {
	Partition int
	Offset    int64
	ID        string
	Type      string
	Tenant    string
	Data      []byte
}

// RecommendationFeed reads the recommendations topic for SSE clients.
type RecommendationFeed interface {
	// Follow sends the records from the given next offsets per partition
	// (partitions absent from from start at the end, or at the beginning
	// when fromStart) to out until ctx ends. It blocks while out is full,
	// which is what bounds a slow client's buffer.
	Follow(ctx context.Context, from map[int]int64, fromStart bool, out chan<- FeedRecord) error
}

// SSEConfig tunes the SSE feed.
type SSEConfig struct {
	// Heartbeat is the interval of comment lines that keep proxies from
	// closing an idle stream (default 15 s).
	Heartbeat time.Duration
	// Buffer is the number of records buffered per connection (default 64).
	Buffer int
	// Stop, when closed, ends every stream (server shutdown).
	Stop <-chan struct{}
}

type sseFeed struct {
	feed RecommendationFeed
	cfg  SSEConfig
	log  *slog.Logger
}

// EncodeFeedPosition encodes the next offset of every partition as an SSE
// event id: "0:12,1:7,...", sorted by partition.
func EncodeFeedPosition(next map[int]int64) string {
	parts := make([]int, 0, len(next))
	for p := range next {
		parts = append(parts, p)
	}
	sort.Ints(parts)
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d:%d", p, next[p])
	}
	return b.String()
}

// ParseFeedPosition reads an id written by EncodeFeedPosition.
func ParseFeedPosition(s string) (map[int]int64, error) {
	out := map[int]int64{}
	for _, f := range strings.Split(s, ",") {
		ps, os, ok := strings.Cut(strings.TrimSpace(f), ":")
		p, err1 := strconv.Atoi(ps)
		o, err2 := strconv.ParseInt(os, 10, 64)
		if !ok || err1 != nil || err2 != nil || p < 0 || o < 0 {
			return nil, fmt.Errorf("%q is not <partition>:<offset>[,...]", s)
		}
		out[p] = o
	}
	return out, nil
}

func (s *sseFeed) serve(w http.ResponseWriter, r *http.Request) {
	tenant := Tenant(r)
	learner := ""
	if l := r.URL.Query().Get("learner"); l != "" {
		learner = learnerKey(l)
		noteLearners(r, learner)
	}
	var from map[int]int64
	fromStart := r.URL.Query().Get("from") == "beginning"
	if f := r.URL.Query().Get("from"); f != "" && f != "beginning" && f != "end" {
		writePlainField(w, "from", fmt.Sprintf("%q is not beginning or end", f))
		return
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		var err error
		if from, err = ParseFeedPosition(id); err != nil {
			writePlainField(w, "Last-Event-ID", err.Error())
			return
		}
	}
	// The server's own wrapper hides Flush; reach the connection's writer.
	raw := w
	if rec, ok := w.(*statusRecorder); ok {
		raw = rec.ResponseWriter
	}
	rc := http.NewResponseController(raw)
	// A stream outlives the server's write timeout; it ends on Stop.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(raw, "retry: 2000\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	heartbeat := s.cfg.Heartbeat
	if heartbeat <= 0 {
		heartbeat = 15 * time.Second
	}
	buf := s.cfg.Buffer
	if buf <= 0 {
		buf = 64
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	recs := make(chan FeedRecord, buf)
	done := make(chan error, 1)
	go func() { done <- s.feed.Follow(ctx, from, fromStart, recs) }()
	next := map[int]int64{}
	for p, o := range from {
		next[p] = o
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	stop := s.cfg.Stop
	for {
		select {
		case <-ctx.Done():
			return
		case <-stop:
			return
		case err := <-done:
			if err != nil && ctx.Err() == nil && s.log != nil {
				s.log.Warn("recommendations feed", "err", err)
			}
			return
		case <-tick.C:
			if _, err := fmt.Fprint(raw, ": heartbeat\n\n"); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		case rec := <-recs:
			next[rec.Partition] = rec.Offset + 1
			if rec.Tenant != tenant || (learner != "" && feedLearner(rec.Data) != learner) {
				continue
			}
			_, err := fmt.Fprintf(raw, "id: %s\nevent: %s\ndata: %s\n\n", EncodeFeedPosition(next), rec.Type, rec.Data)
			if err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

func feedLearner(data []byte) string {
	var v struct {
		Learner string `json:"learner"`
	}
	json.Unmarshal(data, &v)
	return v.Learner
}
