package adaptive

import (
	"math"
	"sort"
)

// Metrics are the usual correctness-prediction scores.
type Metrics struct {
	AUC      float64 // area under the ROC curve, exact (ties count half)
	RMSE     float64
	Accuracy float64 // predictions thresholded at 0.5
	N        int
}

// Score computes the metrics of predictions p against binary labels y
// (y[i] >= 0.5 is a positive). AUC is NaN when only one class is present.
func Score(p, y []float64) Metrics {
	n := len(p)
	m := Metrics{N: n}
	if n == 0 {
		m.AUC, m.RMSE, m.Accuracy = math.NaN(), math.NaN(), math.NaN()
		return m
	}
	var se float64
	var hit int
	for i := range p {
		d := p[i] - y[i]
		se += d * d
		if (p[i] >= 0.5) == (y[i] >= 0.5) {
			hit++
		}
	}
	m.RMSE = math.Sqrt(se / float64(n))
	m.Accuracy = float64(hit) / float64(n)
	m.AUC = AUC(p, y)
	return m
}

// AUC is the exact area under the ROC curve by the rank-sum
// (Mann-Whitney) identity: sort once, give tied predictions their average
// rank, and AUC = (sum of positive ranks - P(P+1)/2) / (P N).
func AUC(p, y []float64) float64 {
	n := len(p)
	idx := make([]int32, n)
	for i := range idx {
		idx[i] = int32(i)
	}
	sort.Slice(idx, func(a, b int) bool { return p[idx[a]] < p[idx[b]] })
	var rankSum, pos float64
	for i := 0; i < n; {
		j := i
		for j < n && p[idx[j]] == p[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1 .. j, averaged
		for k := i; k < j; k++ {
			if y[idx[k]] >= 0.5 {
				rankSum += avg
				pos++
			}
		}
		i = j
	}
	neg := float64(n) - pos
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}
