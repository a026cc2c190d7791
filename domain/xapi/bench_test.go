package xapi

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/learnstream/learnstream/domain/xapi/internal/oracle"
	"github.com/learnstream/learnstream/domain/xapi/xapitest"
)

// The LRS write path parses, prepares, compares and encodes every statement,
// and every stream consumer decodes every stored one; these benchmarks track
// the cost of each step for a typical cmi5 batch and for a batch of 100
// generated statements as a load test posts them. Each has a sub-benchmark
// "oracle" running the implementation the fast one replaced, so that one run
// gives before and after on the same machine.

// loop runs op as the benchmark's body and reports, besides the wall time,
// the process's CPU time per op (cpu-ns/op, GC included): on a machine
// shared with other work the wall time counts waiting for a core, the CPU
// time does not.
func loop(b *testing.B, op func() error) {
	b.ReportAllocs()
	start, n := processCPU(), 0
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if n > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(n), "cpu-ns/op")
	}
}

// benchBatch is a POST body of 100 generated statements and the canonical
// JSON of each as the LRS stores it (id, stored, authority and version set).
func benchBatch(b *testing.B) (body []byte, stored [][]byte) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range 100 {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(xapitest.Statement(xapitest.Rand(uint64(i))))
	}
	buf.WriteByte(']')
	list, err := ParseStatements(buf.Bytes(), Spec1)
	if err != nil {
		b.Fatal(err)
	}
	for i, s := range list {
		s.Prepare(fmt.Sprintf("2a0e8c0e-4b0a-4a4e-9c7e-%012d", i), time.Unix(1764835200, 0), Agent{Mbox: "mailto:lrs@example.com"})
		s.Version = Version
		data, err := s.MarshalJSON()
		if err != nil {
			b.Fatal(err)
		}
		stored = append(stored, data)
	}
	return buf.Bytes(), stored
}

func benchBodies(b *testing.B) map[string][]byte {
	batch, _ := benchBatch(b)
	return map[string][]byte{"cmi5": []byte(cmi5Session), "batch100": batch}
}

func BenchmarkParseStatements(b *testing.B) {
	for _, name := range []string{"cmi5", "batch100"} {
		body := benchBodies(b)[name]
		b.Run(name+"/oracle", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			loop(b, func() error { _, err := oracle.ParseStatements(body, oracle.Spec1); return err })
		})
		b.Run(name+"/fast", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			loop(b, func() error { _, err := ParseStatements(body, Spec1); return err })
		})
	}
}

// BenchmarkDecodeStored decodes the 100 stored statements of a batch; one
// op is the whole batch.
func BenchmarkDecodeStored(b *testing.B) {
	_, stored := benchBatch(b)
	var size int64
	for _, s := range stored {
		size += int64(len(s))
	}
	b.Run("oracle", func(b *testing.B) {
		b.SetBytes(size)
		loop(b, func() error {
			for _, s := range stored {
				if _, err := oracle.DecodeStored(s); err != nil {
					return err
				}
			}
			return nil
		})
	})
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(size)
		loop(b, func() error {
			for _, s := range stored {
				if _, err := DecodeStored(s); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// BenchmarkMarshalJSON encodes the 100 stored statements of a batch; one op
// is the whole batch.
func BenchmarkMarshalJSON(b *testing.B) {
	_, stored := benchBatch(b)
	var list []*Statement
	var olist []*oracle.Statement
	for _, data := range stored {
		s, err := DecodeStored(data)
		if err != nil {
			b.Fatal(err)
		}
		o, err := oracle.DecodeStored(data)
		if err != nil {
			b.Fatal(err)
		}
		list, olist = append(list, s), append(olist, o)
	}
	b.Run("oracle", func(b *testing.B) {
		loop(b, func() error {
			for _, s := range olist {
				if _, err := s.MarshalJSON(); err != nil {
					return err
				}
			}
			return nil
		})
	})
	b.Run("fast", func(b *testing.B) {
		loop(b, func() error {
			for _, s := range list {
				if _, err := s.MarshalJSON(); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

func BenchmarkEquivalent(b *testing.B) {
	x := mustParse(b, cmi5Failed)
	y := mustParse(b, cmi5Failed)
	y.Prepare("2a0e8c0e-4b0a-4a4e-9c7e-0b8c1c6f9a07", time.Now(), Agent{Mbox: "mailto:lrs@example.com"})
	b.ReportAllocs()
	for b.Loop() {
		if !Equivalent(x, y) {
			b.Fatal("not equivalent")
		}
	}
}

// BenchmarkIsIRI checks the IRIs of a typical statement (verb, activity,
// parent, category, mbox), beside the oracle's check as the baseline.
func BenchmarkIsIRI(b *testing.B) {
	iris := []string{
		"http://adlnet.gov/expapi/verbs/completed",
		"https://example.com/activities/lesson-1234",
		"https://example.com/courses/123",
		"https://w3id.org/xapi/cmi5/context/categories/moveon",
		"http://adlnet.gov/expapi/activities/lesson",
		"mailto:learner1234@example.com",
	}
	for _, c := range []struct {
		name string
		f    func(string) bool
	}{{"oracle", oracle.IsIRI}, {"IsIRI", IsIRI}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				for _, s := range iris {
					if !c.f(s) {
						b.Fatalf("%s refused %q", c.name, s)
					}
				}
			}
		})
	}
}
