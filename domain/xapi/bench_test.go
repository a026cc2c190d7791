package xapi

import (
	"testing"
	"time"
)

// The LRS write path parses, prepares, compares and encodes every statement;
// these benchmarks track the cost of each step for a typical cmi5 batch.

func BenchmarkParseStatements(b *testing.B) {
	body := []byte(cmi5Session)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseStatements(body, Spec1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalJSON(b *testing.B) {
	list, err := ParseStatements([]byte(cmi5Session), Spec1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range list {
			if _, err := s.MarshalJSON(); err != nil {
				b.Fatal(err)
			}
		}
	}
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
