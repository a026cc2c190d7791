package projections

import (
	"slices"
	"sync"
)

// SkillLevel is a learner's mastery of one skill, the skill by the
// number the store gave its id (Adaptive.SkillName names it).
type SkillLevel struct {
	Skill int32
	P     float64
}

// skillNumbers numbers the skill ids the adaptive read model's learners
// hold, for the life of the store: the mastery cache keeps a learner's
// skills as a slice by number, and the recommender, which ranks with the
// mastery of every learner whose statement it learns, maps the numbers to
// its catalog's once per skill, where a map by skill id per learner cost
// it a lookup by string per skill and ranking, cache misses on each
// string's bytes in the server (1.4% of its CPU at 2,500 statements/s).
// A number is never given to another id; the ids are the skills of the
// tenants' catalogs (those removed since included), few enough that none
// is forgotten.
type skillNumbers struct {
	mu    sync.RWMutex
	ids   map[string]int32
	names []string
}

// number returns skill's number, giving it the next one if it has none.
func (s *skillNumbers) number(skill string) int32 {
	s.mu.RLock()
	n, ok := s.ids[skill]
	s.mu.RUnlock()
	if ok {
		return n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.ids[skill]; ok {
		return n
	}
	if s.ids == nil {
		s.ids = map[string]int32{}
	}
	n = int32(len(s.names))
	s.ids[skill] = n
	s.names = append(s.names, skill)
	return n
}

// name returns the id of number n ("" for a number not given).
func (s *skillNumbers) name(n int32) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if n < 0 || int(n) >= len(s.names) {
		return ""
	}
	return s.names[n]
}

// skillLevels is a learner's mastery as the mastery cache holds it: read
// only once cached (with replaces it), so lookups share it.
type skillLevels []SkillLevel

// with returns the levels with skill n at p: a new slice.
func (l skillLevels) with(n int32, p float64) skillLevels {
	out := make(skillLevels, len(l), len(l)+1)
	copy(out, l)
	if i := slices.IndexFunc(out, func(s SkillLevel) bool { return s.Skill == n }); i >= 0 {
		out[i].P = p
		return out
	}
	return append(out, SkillLevel{Skill: n, P: p})
}
