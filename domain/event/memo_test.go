package event

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// counted is a decoder that counts its calls: the words of the data, or
// an error for empty words.
func counted(calls *atomic.Int64) *Decoder[[]string] {
	return NewDecoder(func(b []byte) ([]string, error) {
		calls.Add(1)
		if strings.Contains(string(b), "  ") {
			return nil, errors.New("empty word")
		}
		return strings.Fields(string(b)), nil
	})
}

func TestDecoderDecodesOncePerSharedEvent(t *testing.T) {
	for _, tc := range []struct {
		name string
		// copies makes the events the consumers hold from e.
		copies func(e Event) []Event
		want   int64 // decodes for the three Decode calls
	}{
		{"shared: once for every copy", func(e Event) []Event {
			s := Shared(e)
			return []Event{s, s, s}
		}, 1},
		{"not shared: every time", func(e Event) []Event { return []Event{e, e, e} }, 3},
		{"a copy with other data decodes its own", func(e Event) []Event {
			s := Shared(e)
			o := s
			o.Data = []byte("other words")
			return []Event{s, o, s}
		}, 2},
		{"equal bytes elsewhere are other data", func(e Event) []Event {
			s := Shared(e)
			o := s
			o.Data = []byte(string(e.Data))
			return []Event{s, o, o}
		}, 3},
		{"a shorter slice of the same bytes is other data", func(e Event) []Event {
			s := Shared(e)
			o := s
			o.Data = s.Data[:3]
			return []Event{s, o, s}
		}, 2},
		{"no data", func(e Event) []Event {
			e.Data = nil
			s := Shared(e)
			return []Event{s, s, s}
		}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			d := counted(&calls)
			e := Event{ID: "1", Data: []byte("one two three")}
			for _, c := range tc.copies(e) {
				got, err := d.Decode(c)
				want := strings.Fields(string(c.Data))
				if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
					t.Fatalf("Decode(%q) = %q, %v; want %q", c.Data, got, err, want)
				}
			}
			if n := calls.Load(); n != tc.want {
				t.Errorf("decoded %d times, want %d", n, tc.want)
			}
		})
	}
}

func TestDecoderSharesErrors(t *testing.T) {
	var calls atomic.Int64
	d := counted(&calls)
	s := Shared(Event{Data: []byte("a  b")})
	for range 3 {
		if _, err := d.Decode(s); err == nil || err.Error() != "empty word" {
			t.Fatalf("Decode = %v, want the decoder's error", err)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("decoded %d times, want 1", calls.Load())
	}
}

func TestDecoderOtherDecoderDecodesItself(t *testing.T) {
	var first, second atomic.Int64
	d1, d2 := counted(&first), counted(&second)
	s := Shared(Event{Data: []byte("x y")})
	for range 2 {
		if _, err := d1.Decode(s); err != nil {
			t.Fatal(err)
		}
		got, err := d2.Decode(s)
		if err != nil || len(got) != 2 {
			t.Fatalf("second decoder: %q, %v", got, err)
		}
	}
	if first.Load() != 1 || second.Load() != 2 {
		t.Errorf("decodes: first %d (want 1), second %d (want 2: the memo holds the first's)", first.Load(), second.Load())
	}
}

// Consumers on several goroutines get one value, decoded once (run with
// -race).
func TestDecoderConcurrentConsumers(t *testing.T) {
	var calls atomic.Int64
	d := counted(&calls)
	s := Shared(Event{Data: []byte("p q r")})
	const n = 16
	got := make([][]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := d.Decode(s)
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("decoded %d times by %d consumers, want 1", calls.Load(), n)
	}
	for i := range got {
		if &got[i][0] != &got[0][0] {
			t.Fatalf("consumer %d got a value of its own, want the shared one", i)
		}
	}
}
