package adaptive

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestBKTParamsValidate(t *testing.T) {
	tests := []struct {
		name  string
		p     BKTParams
		field string // "" = valid
	}{
		{"default", DefaultBKT, ""},
		{"prior above 1", BKTParams{Prior: 1.5, Learn: 0.1, Guess: 0.2, Slip: 0.1}, "bkt.prior"},
		{"negative learn", BKTParams{Prior: 0.5, Learn: -0.1, Guess: 0.2, Slip: 0.1}, "bkt.learn"},
		{"NaN forget", BKTParams{Prior: 0.5, Learn: 0.1, Forget: math.NaN(), Guess: 0.2, Slip: 0.1}, "bkt.forget"},
		{"guess plus slip reaches 1", BKTParams{Prior: 0.5, Learn: 0.1, Guess: 0.6, Slip: 0.4}, "bkt.guess+bkt.slip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want a ValidationError on %s", err, tt.field)
			}
		})
	}
}

func TestBKTStep(t *testing.T) {
	p := BKTParams{Prior: 0.4, Learn: 0.2, Guess: 0.25, Slip: 0.1}
	tests := []struct {
		name    string
		known   float64
		correct bool
		want    float64
	}{
		// posterior 0.4*0.9/(0.36+0.15) = 0.70588; then +0.29412*0.2
		{"correct", 0.4, true, 0.70588235 + 0.29411765*0.2},
		// posterior 0.04/(0.04+0.45) = 0.08163; then +0.91837*0.2
		{"incorrect", 0.4, false, 0.08163265 + 0.91836735*0.2},
		{"known stays known without forgetting", 1, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Step(tt.known, tt.correct); math.Abs(got-tt.want) > 1e-6 {
				t.Fatalf("Step = %v, want %v", got, tt.want)
			}
		})
	}
	if got := p.PCorrect(0.4); math.Abs(got-(0.36+0.15)) > 1e-12 {
		t.Fatalf("PCorrect = %v", got)
	}
	f := p
	f.Forget = 0.5
	if got := f.Step(1, true); math.Abs(got-0.5) > 1e-12 {
		t.Fatalf("forgetting: Step = %v, want 0.5", got)
	}
}

// sampleBKT draws answer sequences from known parameters.
func sampleBKT(p BKTParams, learners, length int, seed uint64) *Dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := &Dataset{skillOff: []int32{0}}
	for l := 0; l < learners; l++ {
		known := rng.Float64() < p.Prior
		for k := 0; k < length; k++ {
			pc := p.Guess
			if known {
				pc = 1 - p.Slip
			}
			c := 0.0
			if rng.Float64() < pc {
				c = 1
			}
			d.Learner = append(d.Learner, int32(l))
			d.Item = append(d.Item, int32(k))
			d.Score = append(d.Score, c)
			d.Line = append(d.Line, int32(len(d.Line)+2))
			d.skillPool = append(d.skillPool, 0)
			d.skillOff = append(d.skillOff, int32(len(d.skillPool)))
			if !known && rng.Float64() < p.Learn {
				known = true
			} else if known && rng.Float64() < p.Forget {
				known = false
			}
		}
	}
	return d
}

func TestFitBKTRecoversParameters(t *testing.T) {
	tests := []struct {
		name   string
		truth  BKTParams
		forget bool
	}{
		{"classic", BKTParams{Prior: 0.3, Learn: 0.15, Guess: 0.2, Slip: 0.1}, false},
		{"easy skill", BKTParams{Prior: 0.6, Learn: 0.3, Guess: 0.3, Slip: 0.05}, false},
		{"with forgetting", BKTParams{Prior: 0.4, Learn: 0.2, Forget: 0.05, Guess: 0.2, Slip: 0.1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sampleBKT(tt.truth, 3000, 20, 3)
			fits, err := FitBKT(BuildSequences(d), FitOptions{FitForget: tt.forget, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(fits) != 1 {
				t.Fatalf("got %d skills", len(fits))
			}
			got := fits[0].Params
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"prior", got.Prior, tt.truth.Prior}, {"learn", got.Learn, tt.truth.Learn}, {"forget", got.Forget, tt.truth.Forget}, {"guess", got.Guess, tt.truth.Guess}, {"slip", got.Slip, tt.truth.Slip}} {
				if math.Abs(c.got-c.want) > 0.05 {
					t.Errorf("%s = %.3f, want %.3f ± 0.05 (fit %+v)", c.name, c.got, c.want, got)
				}
			}
			if fits[0].Observations != 60000 || fits[0].Sequences != 3000 {
				t.Errorf("counts: %d observations, %d sequences", fits[0].Observations, fits[0].Sequences)
			}
		})
	}
}

func TestFitBKTDeterministicAcrossWorkers(t *testing.T) {
	d := synthetic(300, 500, 12, 40, 5)
	a, err := FitBKT(BuildSequences(d), FitOptions{Workers: 1, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	b, err := FitBKT(BuildSequences(d), FitOptions{Workers: 4, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("%d vs %d skills", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("skill %d differs: %+v vs %+v", a[i].Skill, a[i], b[i])
		}
		if err := a[i].Params.Validate(); err != nil {
			t.Fatalf("skill %d: fitted params invalid: %v", a[i].Skill, err)
		}
	}
}

func TestFitOptionsValidate(t *testing.T) {
	tests := []struct {
		opt   FitOptions
		field string
	}{
		{FitOptions{Restarts: -1}, "fit.restarts"},
		{FitOptions{MaxIter: -5}, "fit.max_iter"},
		{FitOptions{Tol: math.NaN()}, "fit.tol"},
		{FitOptions{Workers: -1}, "fit.workers"},
	}
	d := synthetic(10, 10, 2, 5, 1)
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			_, err := FitBKT(BuildSequences(d), tt.opt)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("got %v, want an error on %s", err, tt.field)
			}
		})
	}
}

// An answer pattern that only a "known predicts failure" model explains:
// learners start right and end wrong. The fit must still return valid,
// meaningful parameters and say it was degenerate.
func TestFitBKTDegenerate(t *testing.T) {
	d := &Dataset{skillOff: []int32{0}}
	for l := 0; l < 200; l++ {
		for k := 0; k < 10; k++ {
			c := 0.0
			if k < 3 {
				c = 1
			}
			d.Learner = append(d.Learner, int32(l))
			d.Item = append(d.Item, int32(k))
			d.Score = append(d.Score, c)
			d.Line = append(d.Line, 0)
			d.skillPool = append(d.skillPool, 0)
			d.skillOff = append(d.skillOff, int32(len(d.skillPool)))
		}
	}
	fits, err := FitBKT(BuildSequences(d), FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := fits[0]
	if err := f.Params.Validate(); err != nil {
		t.Fatalf("params %+v invalid: %v", f.Params, err)
	}
	if !f.Degenerate {
		t.Fatalf("want Degenerate, got %+v", f)
	}
}

func BenchmarkEStep(b *testing.B) {
	d := sampleBKT(DefaultBKT, 2000, 50, 1)
	seqs := BuildSequences(d)
	buf := make([]float64, 2*seqs.skills[0].maxLen)
	var c emCounts
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		eStep(&seqs.skills[0], &DefaultBKT, &c, buf)
	}
	b.ReportMetric(float64(b.N)*float64(len(seqs.skills[0].obs))/b.Elapsed().Seconds(), "obs/s")
}
