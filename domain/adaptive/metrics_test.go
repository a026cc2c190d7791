package adaptive

import (
	"math"
	"testing"
)

func TestAUC(t *testing.T) {
	tests := []struct {
		name string
		p, y []float64
		want float64
	}{
		{"perfect", []float64{0.1, 0.4, 0.6, 0.9}, []float64{0, 0, 1, 1}, 1},
		{"inverted", []float64{0.9, 0.6, 0.4, 0.1}, []float64{0, 0, 1, 1}, 0},
		{"all tied", []float64{0.5, 0.5, 0.5, 0.5}, []float64{0, 1, 0, 1}, 0.5},
		// pairs (pos, neg): (0.8>0.3) (0.8>0.5) (0.5=0.5 half) (0.5>0.3) -> 3.5/4
		{"one tie across classes", []float64{0.3, 0.5, 0.5, 0.8}, []float64{0, 0, 1, 1}, 0.875},
		{"one class", []float64{0.2, 0.7}, []float64{1, 1}, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AUC(tt.p, tt.y)
			if math.IsNaN(tt.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tt.want) > 1e-12) {
				t.Fatalf("AUC = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScore(t *testing.T) {
	m := Score([]float64{0.9, 0.2, 0.6, 0.4}, []float64{1, 0, 0, 1})
	if m.N != 4 || m.Accuracy != 0.5 {
		t.Fatalf("%+v", m)
	}
	if want := math.Sqrt((0.01 + 0.04 + 0.36 + 0.36) / 4); math.Abs(m.RMSE-want) > 1e-12 {
		t.Fatalf("RMSE %v, want %v", m.RMSE, want)
	}
	if e := Score(nil, nil); !math.IsNaN(e.AUC) || e.N != 0 {
		t.Fatalf("empty: %+v", e)
	}
}
