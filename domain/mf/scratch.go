package mf

// Scratch is the working space of ranking one learner, kept to rank the
// next: the candidate lists Blender.CandidatesIn, Content.MergeCandidatesIn
// and Rerank (RerankOptions.Scratch) build on the way to a top-N. A server
// ranks a learner per statement, and those lists (with the success
// predictions' keys) were about a seventh of all it allocated
// (docs/benchmarks.md, "Fourteenth pass").
//
// What is built in a Scratch (the lists, and the reasons a candidate
// explains from them) is valid until the Scratch is used again: use the
// result, or copy what is kept, before ranking the next learner. A Scratch
// is for one goroutine at a time; the zero value is ready.
//
// Its lists are taken as slices.Grow(list[:0], n): a list whose elements
// are pointed at (the reasons' state) gets its room before the first
// append, so that no append moves it.
type Scratch struct {
	// ex and exUnknown answer excluded for exFor while exValid.
	ex        []int32
	exUnknown []string
	exFor     excludedFor
	exValid   bool
	blended   []Blended
	blendOut  []Candidate
	blendWhys []blendWhy
	sc        []Scored
	at        []int
	merged    []HybridScored
	mergeOut  []Candidate
	mergeWhys []mergeWhy
	scored    []scored
	seen      map[string]struct{}
	res       []Candidate
}
