package adaptive

import (
	"math"
	"strconv"
)

// Vocab maps strings (learner, item or skill identifiers) to dense ids
// 0, 1, 2, ... in order of first appearance.
type Vocab struct {
	ids   map[string]int32
	names []string
}

// NewVocab returns an empty vocabulary.
func NewVocab() *Vocab { return &Vocab{ids: make(map[string]int32)} }

// ID returns the id of name and whether it is known.
func (v *Vocab) ID(name string) (int32, bool) {
	id, ok := v.ids[name]
	return id, ok
}

// idBytes looks a name up from a byte slice without allocating (the
// compiler does not copy for a map index with string(b)).
func (v *Vocab) idBytes(b []byte) (int32, bool) {
	id, ok := v.ids[string(b)]
	return id, ok
}

// Add returns the id of name, assigning the next one if it is new.
func (v *Vocab) Add(name string) int32 {
	if id, ok := v.ids[name]; ok {
		return id
	}
	id := int32(len(v.names))
	v.ids[name] = id
	v.names = append(v.names, name)
	return id
}

// Name returns the string of an id ("" if unknown).
func (v *Vocab) Name(id int32) string {
	if id < 0 || int(id) >= len(v.names) {
		return ""
	}
	return v.names[id]
}

// Len is the number of names.
func (v *Vocab) Len() int { return len(v.names) }

// Index turns the string identifiers of an attempt into the dense ids of an
// Event. A consumer keeps one Index next to its Model.
type Index struct {
	Learners, Items, Skills *Vocab
	// StrictSkills makes skills a closed catalog: a skill not already in
	// Skills is rejected (RuleUnknownSkill) instead of added. The catalog
	// consumer adds skills with Skills.Add as catalog events arrive.
	StrictSkills bool
}

// NewIndex returns an empty, non-strict index.
func NewIndex() *Index {
	return &Index{Learners: NewVocab(), Items: NewVocab(), Skills: NewVocab()}
}

// Attempt is a scored attempt as a consumer sees it, with string ids.
type Attempt struct {
	Learner string
	Item    string
	Skills  []string
	// Score is the scaled score in [0,1] (xAPI result.score.scaled, or 1/0
	// from result.success); nil when the statement has none.
	Score   *float64
	Options int // answer options of a choice item; 0 for open responses
}

// Resolve validates an attempt and fills e (reusing e.Skills' storage).
// On an error with Action ActionDLQ, e is unspecified and must not be
// observed. On an error with Action ActionDefault, e already holds the
// documented default and may be observed. Only the first problem is
// reported; ActionDLQ problems are checked before ActionDefault ones so a
// default is never reported for an event that must be rejected anyway.
func (x *Index) Resolve(a *Attempt, e *Event) error {
	if a.Learner == "" {
		return invalid("learner", RuleRequired, nil, ActionDLQ)
	}
	if a.Item == "" {
		return invalid("item", RuleRequired, nil, ActionDLQ)
	}
	if a.Score == nil {
		return invalid("score", RuleRequired, nil, ActionDLQ)
	}
	if s := *a.Score; math.IsNaN(s) || s < 0 || s > 1 {
		return invalid("score", RuleScoreRange, s, ActionDLQ)
	}
	if a.Options < 0 || a.Options == 1 || a.Options > math.MaxInt32 {
		return invalid("options", RuleOptions, a.Options, ActionDLQ)
	}
	for i, s := range a.Skills {
		if s == "" {
			return invalid("skills["+strconv.Itoa(i)+"]", RuleRequired, nil, ActionDLQ)
		}
		if x.StrictSkills {
			if _, ok := x.Skills.ID(s); !ok {
				return invalid("skills["+strconv.Itoa(i)+"]", RuleUnknownSkill, s, ActionDLQ)
			}
		}
	}
	e.Learner = x.Learners.Add(a.Learner)
	e.Item = x.Items.Add(a.Item)
	e.Score = *a.Score
	e.Options = int32(a.Options)
	e.Skills = e.Skills[:0]
	var def error
	for i, s := range a.Skills {
		id := x.Skills.Add(s)
		dup := false
		for _, t := range e.Skills {
			if t == id {
				dup = true
			}
		}
		if dup {
			if def == nil {
				def = invalid("skills["+strconv.Itoa(i)+"]", RuleDuplicateSkill, s, ActionDefault)
			}
			continue
		}
		e.Skills = append(e.Skills, id)
	}
	if def != nil {
		return def
	}
	if len(e.Skills) == 0 {
		return invalid("skills", RuleNoSkills, nil, ActionDefault)
	}
	return nil
}

// Forget frees name: its id stays taken, with no name, so that the ids of
// others do not move; a name added again gets a new id. It returns the id
// and whether name was known.
func (v *Vocab) Forget(name string) (int32, bool) {
	id, ok := v.ids[name]
	if !ok {
		return 0, false
	}
	delete(v.ids, name)
	v.names[id] = ""
	return id, true
}

// AddForgotten takes the next id for a forgotten name (restoring a
// vocabulary that had one).
func (v *Vocab) AddForgotten() int32 {
	v.names = append(v.names, "")
	return int32(len(v.names) - 1)
}
