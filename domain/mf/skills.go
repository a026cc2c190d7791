package mf

// SkillIndex numbers the skills of a knowledge graph, so that a ranking
// holds a learner's mastery in a slice indexed by skill number (Levels)
// instead of a map keyed by skill ids. Re-ranking a list asks for the
// mastery of every skill each candidate teaches and of their
// prerequisites, a hundred or more lookups of long ids a list, which
// become slice reads (BenchmarkRerankRole: a third less time a list).
//
// An index describes the graph it was made from; it is read-only and safe
// for concurrent use. A graph that changes needs a new index.
type SkillIndex struct {
	ids     map[string]int32
	skills  []string
	taught  map[string][]int32 // activity -> the numbers of the skills it teaches
	prereqs [][]int32          // skill number -> its direct prerequisites' numbers
}

// NewSkillIndex numbers skills in the order given and records, by number,
// what k says each of activities teaches and each skill requires. Skills
// that k names but skills does not are left out of taught and
// prerequisite lists (a graph validates its references, so there are
// none).
func NewSkillIndex(k Knowledge, skills, activities []string) *SkillIndex {
	x := &SkillIndex{ids: make(map[string]int32, len(skills)), skills: skills,
		taught: make(map[string][]int32, len(activities)), prereqs: make([][]int32, len(skills))}
	for i, s := range skills {
		x.ids[s] = int32(i)
	}
	numbers := func(ids []string) []int32 {
		var out []int32
		for _, s := range ids {
			if i, ok := x.ids[s]; ok {
				out = append(out, i)
			}
		}
		return out
	}
	for i, s := range skills {
		x.prereqs[i] = numbers(k.Prerequisites(s))
	}
	for _, a := range activities {
		if t := numbers(k.SkillsTaught(a)); len(t) > 0 {
			x.taught[a] = t
		}
	}
	return x
}

// Len is the number of skills: the length of a Levels slice.
func (x *SkillIndex) Len() int { return len(x.skills) }

// Number returns the number of a skill.
func (x *SkillIndex) Number(skill string) (int32, bool) { i, ok := x.ids[skill]; return i, ok }

// Skill returns the id of a skill number.
func (x *SkillIndex) Skill(i int32) string { return x.skills[i] }

// Taught returns the numbers of the skills an activity teaches (shared:
// do not change them).
func (x *SkillIndex) Taught(activity string) []int32 { return x.taught[activity] }

// Prerequisites returns the numbers of a skill's direct prerequisites
// (shared: do not change them).
func (x *SkillIndex) Prerequisites(i int32) []int32 { return x.prereqs[i] }

// Levels returns mastery as Levels: mastery[skill] by number, 0 for the
// skills mastery does not hold; into is reused when long enough. Skills
// the index does not know are left out.
func (x *SkillIndex) Levels(into []float64, mastery map[string]float64) []float64 {
	if cap(into) < len(x.skills) {
		into = make([]float64, len(x.skills))
	}
	into = into[:len(x.skills)]
	clear(into)
	for s, p := range mastery {
		if i, ok := x.ids[s]; ok {
			into[i] = p
		}
	}
	return into
}

// Mastery returns levels as a map of the skills whose level is not 0, for
// what takes mastery by skill id (NewRoleGap).
func (x *SkillIndex) Mastery(levels []float64) map[string]float64 {
	m := map[string]float64{}
	for i, p := range levels {
		if p != 0 {
			m[x.skills[i]] = p
		}
	}
	return m
}
