package adaptive

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// synthetic builds a dataset from a simple generative model: learners with
// an ability, items with a difficulty and one of k skills, and practice
// that raises the skill ability. Rows are grouped by learner, as in the
// ASSISTments files.
func synthetic(learners, items, skills, perLearner int, seed uint64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, 7))
	diff := make([]float64, items)
	skillOf := make([]int32, items)
	for i := range diff {
		diff[i] = rng.NormFloat64()
		skillOf[i] = int32(rng.IntN(skills))
	}
	d := &Dataset{skillOff: []int32{0}}
	for l := 0; l < learners; l++ {
		ab := rng.NormFloat64()
		gain := make([]float64, skills)
		for n := 0; n < perLearner; n++ {
			it := int32(rng.IntN(items))
			s := skillOf[it]
			p := 1 / (1 + math.Exp(-(ab + gain[s] - diff[it])))
			c := 0.0
			if rng.Float64() < p {
				c = 1
			}
			gain[s] += 0.15
			d.Learner = append(d.Learner, int32(l))
			d.Item = append(d.Item, it)
			d.Score = append(d.Score, c)
			d.Line = append(d.Line, int32(len(d.Line)+2))
			d.skillPool = append(d.skillPool, s)
			d.skillOff = append(d.skillOff, int32(len(d.skillPool)))
		}
	}
	return d
}

// gervet is the path of an assist2009_gervet file relative to this
// package's directory, where go test runs.
func gervet(name string) string {
	return filepath.Join("..", "..", "..", "shared", "data", "assist2009_gervet", name)
}

// openGervet opens a data file or skips the test, saying why.
func openGervet(tb testing.TB, name string) *os.File {
	tb.Helper()
	f, err := os.Open(gervet(name))
	if err != nil {
		tb.Skipf("real data not available (%v); the shared data folder is expected beside the repository", err)
	}
	return f
}

func readGervet(tb testing.TB, ix *Index, name string) *Dataset {
	tb.Helper()
	f := openGervet(tb, name)
	defer f.Close()
	d, err := ReadDataset(f, ix, ReadOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}
