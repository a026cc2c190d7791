// Package ingest is a load generator for xAPI LRSs: it posts generated
// statements to a running LRS (learnstream or another) over HTTP, measures
// what a client sees (acknowledged statements per second, latency
// percentiles), reads back every acknowledged id, and, for learnstream,
// follows its consumers' lag and CPU until they drain.
//
// It only talks to the base URL it is given.
package ingest

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/learnstream/learnstream/domain/xapi"
)

// verbs the generator uses, with how often (out of 100) each appears.
var verbs = []struct {
	id, display string
	share       int
	scored      bool
}{
	{"http://adlnet.gov/expapi/verbs/experienced", "experienced", 40, false},
	{"http://adlnet.gov/expapi/verbs/attempted", "attempted", 15, false},
	{"http://adlnet.gov/expapi/verbs/answered", "answered", 20, true},
	{"http://adlnet.gov/expapi/verbs/completed", "completed", 10, false},
	{"http://adlnet.gov/expapi/verbs/passed", "passed", 8, true},
	{"http://adlnet.gov/expapi/verbs/failed", "failed", 7, true},
}

// generator builds statements of about 0.7 KB of JSON, the size of a
// typical cmi5 / SCORM-bridge statement, over a fixed population of
// learners and activities. Each worker owns one (rand is not shared).
type generator struct {
	rng        *rand.Rand
	learners   int
	activities int
	buf        []byte
}

func newGenerator(seed uint64, learners, activities int) *generator {
	return &generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), learners: learners, activities: activities}
}

// activityID is the id of the generated activity n.
func activityID(n int) string { return activityBase + strconv.Itoa(n) }

const activityBase = "https://example.com/activities/"

// newID returns a random (version 4) UUID.
func newID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return xapi.UUIDText(b[:])
}

// statement appends one statement with the given id to dst.
func (g *generator) statement(dst []byte, id string, now time.Time) []byte {
	learner := g.rng.IntN(g.learners)
	// A skewed choice of activity: some are far more popular than others,
	// as in real catalogues.
	act := int(float64(g.activities) * g.rng.Float64() * g.rng.Float64())
	n := g.rng.IntN(100)
	v := verbs[len(verbs)-1]
	for _, c := range verbs {
		if n < c.share {
			v = c
			break
		}
		n -= c.share
	}
	dst = append(dst, `{"id":"`...)
	dst = append(dst, id...)
	dst = append(dst, `","actor":{"objectType":"Agent","name":"Learner `...)
	dst = strconv.AppendInt(dst, int64(learner), 10)
	dst = append(dst, `","mbox":"mailto:learner`...)
	dst = strconv.AppendInt(dst, int64(learner), 10)
	dst = append(dst, `@example.com"},"verb":{"id":"`...)
	dst = append(dst, v.id...)
	dst = append(dst, `","display":{"en-US":"`...)
	dst = append(dst, v.display...)
	dst = append(dst, `"}},"object":{"objectType":"Activity","id":"`...)
	dst = append(dst, activityBase...)
	dst = strconv.AppendInt(dst, int64(act), 10)
	dst = append(dst, `","definition":{"type":"http://adlnet.gov/expapi/activities/lesson","name":{"en-US":"Lesson `...)
	dst = strconv.AppendInt(dst, int64(act), 10)
	dst = append(dst, `"},"description":{"en-US":"A lesson of the load test catalogue, with a description of typical length."}}}`...)
	if v.scored {
		scaled := g.rng.Float64()
		success := v.id != "http://adlnet.gov/expapi/verbs/failed" && scaled >= 0.5
		dst = append(dst, `,"result":{"score":{"scaled":`...)
		dst = strconv.AppendFloat(dst, float64(int(scaled*100))/100, 'f', -1, 64)
		dst = append(dst, `,"raw":`...)
		dst = strconv.AppendInt(dst, int64(scaled*100), 10)
		dst = append(dst, `,"min":0,"max":100},"success":`...)
		dst = strconv.AppendBool(dst, success)
		dst = append(dst, `,"completion":true,"duration":"PT`...)
		dst = strconv.AppendInt(dst, int64(30+g.rng.IntN(600)), 10)
		dst = append(dst, `S"}`...)
	}
	dst = append(dst, `,"context":{"registration":"`...)
	dst = append(dst, newID()...)
	dst = append(dst, `","platform":"learnstream bench","language":"en-US","contextActivities":{"parent":[{"objectType":"Activity","id":"https://example.com/courses/`...)
	dst = strconv.AppendInt(dst, int64(act/10), 10)
	dst = append(dst, `"}],"category":[{"objectType":"Activity","id":"https://w3id.org/xapi/cmi5/context/categories/moveon"}]}},"timestamp":"`...)
	dst = now.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `"}`...)
	return dst
}

// body returns the request body for n statements (an object for single
// mode, an array otherwise) and their ids.
func (g *generator) body(n int, single bool) ([]byte, []string) {
	ids := make([]string, n)
	b := g.buf[:0]
	now := time.Now()
	if !single {
		b = append(b, '[')
	}
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		ids[i] = newID()
		b = g.statement(b, ids[i], now)
	}
	if !single {
		b = append(b, ']')
	}
	g.buf = b
	return b, ids
}

// describe is a one-line summary of the generated population.
func (g *generator) describe() string {
	return fmt.Sprintf("%d learners, %d activities", g.learners, g.activities)
}
