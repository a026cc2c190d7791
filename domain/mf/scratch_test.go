package mf

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// rankIn ranks learner as the recommender does (the blend's candidates,
// merged with the features, re-ranked) in s.
func rankIn(t *testing.T, s *Scratch, b *Blender, c *Content, learner string) []Candidate {
	t.Helper()
	m := b.Model()
	cands := c.MergeCandidatesIn(s, m, learner, b.CandidatesIn(s, nil, learner, "", 20, nil), 20, nil)
	o := DefaultRerankOptions()
	o.Scratch = s
	o.Success = make([]float64, len(cands))
	for i, c := range cands {
		o.Success[i] = float64(len(c.Item)%7) / 7
	}
	ranked, err := Rerank(cands, o)
	if err != nil {
		t.Fatal(err)
	}
	return ranked
}

// rankWith is rankIn's list as text.
func rankWith(t *testing.T, s *Scratch, b *Blender, c *Content, learner string) []string {
	t.Helper()
	var out []string
	for _, x := range rankIn(t, s, b, c, learner) {
		out = append(out, fmt.Sprintf("%s %.6f %s", x.Item, x.Score, strings.Join(x.Reasons, ",")))
	}
	return out
}

// Ranking one learner after another in one Scratch gives each the list
// ranking in new memory gives, reasons included: nothing of a learner's
// lists shows through in the next one's.
func TestScratchRanksAsNewMemory(t *testing.T) {
	m, c, b := skillBlender(t)
	c.SetItem("algebra-new", []string{FeatureSkill + "algebra", FeatureType + "module"})
	// Learners who take the items in order teach the blend what comes
	// next, so that reasons differ from item to item (next_after:<item>).
	for l := range 30 {
		u := m.AddUser(fmt.Sprintf("in-order-%d", l))
		for i := range 4 + l%8 {
			b.Learn(u, m.AddItem(fmt.Sprintf("algebra-%d", (l+i)%16)), 1)
		}
	}
	learners := []string{"algebra-fan-1", "in-order-3", "poetry-fan-2", "in-order-12", "algebra-fan-3", "nobody", "poetry-fan-4"}
	want := map[string][]string{}
	for _, l := range learners {
		want[l] = rankWith(t, nil, b, c, l)
	}
	if len(want["algebra-fan-1"]) == 0 || slices.Equal(want["algebra-fan-1"], want["poetry-fan-2"]) {
		t.Fatalf("the learners' lists do not tell them apart: %q", want)
	}
	var s Scratch
	for range 2 {
		for _, l := range learners {
			if got := rankWith(t, &s, b, c, l); !slices.Equal(got, want[l]) {
				t.Errorf("%s in a used Scratch:\n got %q\nwant %q", l, got, want[l])
			}
		}
	}
	fresh := testing.AllocsPerRun(20, func() { rankIn(t, nil, b, c, "algebra-fan-1") })
	reused := testing.AllocsPerRun(20, func() { rankIn(t, &s, b, c, "algebra-fan-1") })
	t.Logf("allocations per ranking: %v in new memory, %v in a Scratch", fresh, reused)
	if reused > fresh-10 { // the lists and their reasons' state: a dozen
		t.Errorf("ranking allocates %v times in a Scratch, %v in new memory: the Scratch saves nothing", reused, fresh)
	}
}

// A ranking in a used Scratch sees what the model learned since the
// last one, with the same exclude slice (a learner's completed items, as
// the recommender passes them): the Scratch keeps the excluded items'
// indices from the blend's candidates for their merge, never for the
// next ranking. And the merge takes a blended candidate's index from the
// blend: the same list as when it looks each one up.
func TestScratchAfterLearning(t *testing.T) {
	m, c, b := skillBlender(t)
	fan := "algebra-fan-1"
	done := []string{"algebra-0", "algebra-3", "poetry-1", "not-in-the-model"}
	rank := func(s *Scratch) []string {
		var out []string
		for _, x := range c.MergeCandidatesIn(s, m, fan, b.CandidatesIn(s, nil, fan, "", 12, done), 12, done) {
			out = append(out, fmt.Sprintf("%s %.6f %s", x.Item, x.Score, strings.Join(x.Explain(), ",")))
		}
		return out
	}
	var s Scratch
	u, _ := m.LookupUser(fan)
	for step := range 6 {
		want := rank(nil)
		if got := rank(&s); !slices.Equal(got, want) {
			t.Fatalf("step %d in a used Scratch:\n got %q\nwant %q", step, got, want)
		}
		for _, x := range want {
			for _, d := range done {
				if strings.HasPrefix(x, d+" ") {
					t.Fatalf("step %d: excluded %s in %q", step, d, want)
				}
			}
		}
		// The learner takes the list's first item: it leaves their
		// next list (history), and the model changes under the Scratch.
		first, _, _ := strings.Cut(want[0], " ")
		b.Learn(u, m.AddItem(first), 2)
	}

	collab := b.CandidatesIn(nil, nil, fan, "", 12, done)
	bare := make([]Candidate, len(collab))
	for i, cd := range collab {
		bare[i] = Candidate{Item: cd.Item, Score: cd.Score, Reasons: cd.Explain()}
	}
	var fromBlend, lookedUp []string
	for _, x := range c.MergeCandidatesIn(nil, m, fan, collab, 12, done) {
		fromBlend = append(fromBlend, fmt.Sprintf("%s %.6f", x.Item, x.Score))
	}
	for _, x := range c.MergeCandidatesIn(nil, m, fan, bare, 12, done) {
		lookedUp = append(lookedUp, fmt.Sprintf("%s %.6f", x.Item, x.Score))
	}
	if len(fromBlend) == 0 || !slices.Equal(fromBlend, lookedUp) {
		t.Errorf("merged from the blend's candidates %q, from the same candidates by id %q", fromBlend, lookedUp)
	}
}
