package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/event"
	"github.com/learnstream/learnstream/domain/privacy"
)

// readEverything reads every statement of ids as a client would: one
// query over all of them, then each by id. It returns what the answers
// hold, and the ids read by id that were found.
func readEverything(t *testing.T, p *Statements, ids []string) (text string, found map[string]bool) {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	page, err := p.Query(ctx, "t1", StatementQuery{Limit: len(ids) + 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range page.Statements {
		b.Write(s)
	}
	found = map[string]bool{}
	for _, id := range ids {
		s, err := p.Statement(ctx, "t1", id)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			t.Fatal(err)
		default:
			found[id] = true
			b.Write(s)
		}
	}
	return b.String(), found
}

// storeEraseWorld applies eraseWorld's statements to p and returns their
// ids.
func storeEraseWorld(t *testing.T, p *Statements) []string {
	t.Helper()
	stmts, _ := eraseWorld(t)
	var ids []string
	for i, e := range stmts {
		if err := p.Handle(context.Background(), event.Position{Topic: "s", Offset: int64(i)}, e); err != nil {
			t.Fatal(err)
		}
		if e.Type == event.TypeStatementStored {
			var st struct{ ID string }
			if err := json.Unmarshal(e.Data, &st); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, st.ID)
		}
	}
	return ids
}

// TestReadsNeverShowWhatAChangeRemoved reads every statement twice (the
// second time from the statement cache), changes them the ways stored
// statements change, and reads again: what the change redacted or
// deleted must be gone from every answer after it, cache or not.
func TestReadsNeverShowWhatAChangeRemoved(t *testing.T) {
	ctx := context.Background()
	secret := privacy.Secret("s")
	erase := func(t *testing.T, learner string) event.Event {
		ps := secret.Pseudonym("t1", learner)
		le, _ := json.Marshal(privacy.LearnerErased{Erasure: "er-" + learner, Pseudonym: ps})
		e, err := event.New("le-"+learner, privacy.TypeLearnerErased, "test", "t1", ps, time.Now(), le)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	// Each case stores its statements and returns their ids, then changes
	// them by applying event (or, with drop, by dropping the live
	// generation); gone are the ids the change deletes and hidden the
	// text no answer may hold afterwards.
	type change struct {
		name   string
		store  func(t *testing.T, p *Statements) []string
		event  func(t *testing.T) event.Event
		drop   bool
		gone   func(ids []string) []string
		hidden []string
	}
	// many are more statements than one transaction of an erasure or a
	// retention changes (forgetPart).
	many := func(t *testing.T, p *Statements) []string {
		var ids []string
		for i := range maxStatementsInEvent*2 + 7 {
			ids = append(ids, uuid(i+1))
			if err := p.Handle(ctx, event.Position{Topic: "s", Offset: int64(i)}, stmtEvent(t, fmt.Sprintf("e%d", i), ids[i], "https://x/a")); err != nil {
				t.Fatal(err)
			}
		}
		return ids
	}
	all := func(ids []string) []string { return ids }
	for _, c := range []change{
		{
			name:  "erasure redacting and deleting in its own transaction",
			store: storeEraseWorld,
			event: func(t *testing.T) event.Event { return erase(t, "mbox:mailto:ann@example.com") },
			// Ann's own statement (the first stored) goes; the others
			// naming her are redacted.
			gone:   func(ids []string) []string { return ids[:1] },
			hidden: []string{"ann@example.com", "Ann Erasable", "ann's private answer"},
		},
		{
			name:   "erasure over several transactions",
			store:  many,
			event:  func(t *testing.T) event.Event { return erase(t, "mbox:mailto:a@example.com") },
			gone:   all,
			hidden: []string{"a@example.com"},
		},
		{
			name:  "retention over several transactions",
			store: many,
			event: func(t *testing.T) event.Event {
				return retentionEvent(t, "ra", "t1", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
			},
			gone:   all,
			hidden: []string{"a@example.com"},
		},
		{
			name:   "generation dropped",
			store:  many,
			drop:   true,
			gone:   all,
			hidden: []string{"a@example.com"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := openStore(t)
			store.SetPseudonyms(secret)
			p, err := NewStatements(store, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids := c.store(t, p)
			before, found := readEverything(t, p, ids)
			if len(found) != len(ids) {
				t.Fatalf("found %d of %d statements before the change", len(found), len(ids))
			}
			for _, h := range c.hidden {
				if !strings.Contains(before, h) {
					t.Fatalf("no answer holds %q before the change", h)
				}
			}
			hits := store.statements.hits.Load()
			if again, _ := readEverything(t, p, ids); again != before {
				t.Fatal("a second read answered differently with nothing changed")
			}
			if store.statements.hits.Load() == hits {
				t.Fatal("the second read was not answered from the cache: this test would not see a stale entry")
			}

			if c.drop {
				err = store.dropSpace(p.Space())
			} else {
				err = p.Handle(ctx, event.Position{Topic: "s", Offset: 1 << 20}, c.event(t))
			}
			if err != nil {
				t.Fatal(err)
			}

			after, found := readEverything(t, p, ids)
			for _, id := range c.gone(ids) {
				if found[id] {
					t.Errorf("statement %s is still found after the change", id)
				}
			}
			for _, h := range c.hidden {
				if strings.Contains(after, h) {
					t.Errorf("an answer after the change still holds %q", h)
				}
			}
		})
	}
}

// TestReadsDuringAnErasure reads a statement the erasure redacts, from
// several goroutines, while the erasure applies: a read that starts
// after the erasure's event was applied must not show the erased
// learner.
func TestReadsDuringAnErasure(t *testing.T) {
	ctx := context.Background()
	secret := privacy.Secret("s")
	store := openStore(t)
	store.SetPseudonyms(secret)
	p, err := NewStatements(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := storeEraseWorld(t, p)
	var erased atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var stale, reads atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := erased.Load()
				for _, id := range ids[1:] {
					s, err := p.Statement(ctx, "t1", id)
					if err != nil && !errors.Is(err, ErrNotFound) {
						t.Error(err)
						return
					}
					reads.Add(1)
					if after && strings.Contains(string(s), "ann@example.com") {
						stale.Add(1)
					}
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond) // the readers fill the cache
	ps := secret.Pseudonym("t1", "mbox:mailto:ann@example.com")
	le, _ := json.Marshal(privacy.LearnerErased{Erasure: "er1", Pseudonym: ps})
	e, _ := event.New("le", privacy.TypeLearnerErased, "test", "t1", ps, time.Now(), le)
	if err := p.Handle(ctx, event.Position{Topic: "s", Offset: 1 << 20}, e); err != nil {
		t.Fatal(err)
	}
	erased.Store(true)
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := stale.Load(); n > 0 {
		t.Errorf("%d reads started after the erasure showed the erased learner", n)
	}
	if store.statements.hits.Load() == 0 || reads.Load() == 0 {
		t.Errorf("the readers made %d reads, %d from the cache: nothing was tested", reads.Load(), store.statements.hits.Load())
	}
}

// TestStatementCacheStaysWithinItsSize fills a cache with far more than
// it holds, reading one entry between each addition: the cache keeps
// about its size, and the entry read again stays.
func TestStatementCacheStaysWithinItsSize(t *testing.T) {
	const size = 1 << 20
	c := newStatementCache(size)
	state := c.state.Load()
	hot := []byte("s\x00t1\x00hot")
	c.add(hot, state, []byte(strings.Repeat("h", 700)))
	json := []byte(strings.Repeat("x", 700))
	for i := range 20 * size / 700 {
		c.add(fmt.Appendf(nil, "s\x00t1\x00%d", i), state, json)
		if _, ok := c.lookup(hot, state); !ok {
			t.Fatalf("the entry read between each addition went after %d additions", i)
		}
	}
	if n := c.size(); n > size || n < size/4 {
		t.Errorf("cache holds %d bytes, want at most its size %d (and not nearly empty)", n, size)
	}

	// An entry of another state serves no read.
	c.beginChange()
	c.endChange()
	if _, ok := c.lookup(hot, c.state.Load()); ok {
		t.Error("an entry cached before a change serves a read after it")
	}
	if n := c.size(); n != 0 {
		t.Errorf("a change left %d bytes cached", n)
	}
}

// TestStatementCacheIsOffDuringAChange checks the states a read may use
// the cache in: none while a change is in progress, nor when one began
// or ended between loading the state and opening the transaction.
func TestStatementCacheIsOffDuringAChange(t *testing.T) {
	c := newStatementCache(1 << 20)
	before := c.load()
	if !c.reads(before).on {
		t.Fatal("no change: the cache is off")
	}
	c.beginChange()
	if c.reads(before).on {
		t.Error("a change began after the state was loaded, and the cache is on")
	}
	if c.reads(c.load()).on {
		t.Error("a change is in progress, and the cache is on")
	}
	c.beginChange()
	c.endChange()
	if c.reads(c.load()).on {
		t.Error("one of two changes is still in progress, and the cache is on")
	}
	c.endChange()
	if !c.reads(c.load()).on {
		t.Error("every change ended, and the cache is off")
	}
	var none *statementCache
	none.beginChange()
	none.endChange()
	if none.reads(none.load()).on {
		t.Error("no cache, and reads use it")
	}
}

// TestOnlyDropsOfStatementsChangeThem: dropping keys that hold no
// statements (another projection's, a purge's marker) leaves the cache
// in use; dropping any generation of the statements projection is a
// change.
func TestOnlyDropsOfStatementsChangeThem(t *testing.T) {
	for _, tc := range []struct {
		prefix []byte
		want   bool
	}{
		{newSpace(StatementsName, 3).prefix, true},
		{newSpace(StatementsName, 3).Prefix("s", "t1"), true},
		{[]byte{prefixSpace, 0}, true},
		{nil, true},
		{newSpace("webhookqueue", 1).Prefix("q", "sub"), false},
		{newSpace(StatementsName+"x", 1).prefix, false},
		{purgeKey(0), false},
	} {
		if got := mayHoldStatements(tc.prefix); got != tc.want {
			t.Errorf("mayHoldStatements(%q) = %v, want %v", tc.prefix, got, tc.want)
		}
	}

	ctx := context.Background()
	store := openStore(t)
	p, err := NewStatements(store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Handle(ctx, event.Position{Topic: "s"}, stmtEvent(t, "e1", uuid(1), "https://x/a")); err != nil {
		t.Fatal(err)
	}
	read := func() uint64 {
		t.Helper()
		if _, err := p.Statement(ctx, "t1", uuid(1)); err != nil {
			t.Fatal(err)
		}
		return store.statements.hits.Load()
	}
	read()
	hits := read()
	if err := store.dropPrefix(newSpace("webhookqueue", 1).Prefix("q", "sub")); err != nil {
		t.Fatal(err)
	}
	if read() != hits+1 {
		t.Error("a drop of another projection's keys stopped the cache")
	}
	if err := store.dropPrefix(newSpace(StatementsName, p.Space().Generation()+1).prefix); err != nil {
		t.Fatal(err)
	}
	if read() != hits+1 {
		t.Error("a read after a drop of a statements generation was answered from the cache")
	}
}

// size returns the bytes c's entries take, as the budget counts them.
func (c *statementCache) size() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for _, m := range []map[string]cachedStatement{sh.cur, sh.old} {
			for k, e := range m {
				n += len(k) + len(e.json) + cacheEntryOverhead
			}
		}
		sh.mu.Unlock()
	}
	return n
}
