package api_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/learnstream/learnstream/domain/content"
)

// Statements an AU sends at once are judged one after the other against
// the registration's state: of several initialized (or passed) at once
// exactly one is accepted, as if they had come in turn.
func TestCmi5ConcurrentStatementsAreJudgedInTurn(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before []string // statements sent first, in turn
		verb   string   // sent by 8 requests at once
		result string
	}{
		{name: "initialized", verb: content.Cmi5VerbInitialized},
		{name: "passed", before: []string{content.Cmi5VerbInitialized}, verb: content.Cmi5VerbPassed,
			result: `,"result":{"success":true,"score":{"scaled":0.9},"duration":"PT1M"}`},
		{name: "completed", before: []string{content.Cmi5VerbInitialized}, verb: content.Cmi5VerbCompleted,
			result: `,"result":{"completion":true,"duration":"PT1M"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store, pkg := installCmi5(t, oneAUCourse)
			f := playerFixture(t, store)
			au := launchCmi5(t, f, pkg, "https://example.com/cmi5/one/au")
			for _, v := range tc.before {
				au.post(t, v, "", http.StatusOK)
			}
			const n = 8
			codes := make(chan int, n)
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					codes <- au.send(t, tc.verb, tc.result)
				}()
			}
			wg.Wait()
			close(codes)
			count := map[int]int{}
			for c := range codes {
				count[c]++
			}
			if count[http.StatusOK] != 1 || count[http.StatusBadRequest] != n-1 {
				t.Errorf("answers %v, want one 200 and %d 400", count, n-1)
			}
		})
	}
}
