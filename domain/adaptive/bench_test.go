package adaptive

import (
	"testing"
)

// benchReplay measures Observe (predict with all three models, then learn)
// over a dataset replayed in a loop. The first pass creates the state; the
// timer starts after it, so allocs/op reports the steady state, which must
// be 0.
func benchReplay(b *testing.B, d *Dataset) {
	m, err := New(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	var e Event
	for i := 0; i < d.Len(); i++ {
		d.Event(i, &e)
		if _, err := m.Observe(&e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := d.Len()
	for i := 0; i < b.N; i++ {
		d.Event(i%n, &e)
		if _, err := m.Observe(&e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkObserveSynthetic(b *testing.B) {
	benchReplay(b, synthetic(3000, 17000, 150, 90, 1))
}

func BenchmarkObserveAssist2009(b *testing.B) {
	benchReplay(b, readGervet(b, NewIndex(), "preprocessed_data_train.csv.gz"))
}

func BenchmarkPredict(b *testing.B) {
	d := synthetic(3000, 17000, 150, 90, 1)
	m, _ := New(DefaultConfig())
	var e Event
	for i := 0; i < d.Len(); i++ {
		d.Event(i, &e)
		m.Observe(&e)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Event(i%d.Len(), &e)
		if _, err := m.Predict(&e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFitBKTAssist2009(b *testing.B) {
	d := readGervet(b, NewIndex(), "preprocessed_data_train.csv.gz")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := FitBKT(BuildSequences(d), FitOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
