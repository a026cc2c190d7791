package content

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/learnstream/learnstream/domain/graph"
)

// SkillsFile is the optional skill mapping file at a package's root.
const SkillsFile = "learnstream-skills.json"

// SkillMap declares the skills a package's units teach and assess, for
// packages whose metadata does not:
//
//	{"skills": {"fractions": "Adding fractions"},
//	 "units": {"SCO1": {"teaches": ["fractions"]}, "QUIZ": {"assesses": ["fractions"]}}}
//
// Units are named by SCORM item identifier or cmi5 AU/block id.
type SkillMap struct {
	Skills map[string]string     `json:"skills"`
	Units  map[string]UnitSkills `json:"units"`
}

// UnitSkills are the skills of one unit.
type UnitSkills struct {
	Teaches  []string `json:"teaches"`
	Assesses []string `json:"assesses"`
}

// ParseSkillMap reads a skill mapping file strictly: unknown fields are
// errors, so that a typo does not silently drop a mapping.
func ParseSkillMap(data []byte) (*SkillMap, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	var m SkillMap
	if err := d.Decode(&m); err != nil {
		return nil, &Problem{File: SkillsFile, Msg: "not a skill mapping ({\"skills\": {...}, \"units\": {...}}): " + err.Error()}
	}
	return &m, nil
}

func (m *SkillMap) apply(c *Course) *Problem {
	for id, name := range m.Skills {
		c.Skills[id] = name
	}
	units := make([]string, 0, len(m.Units))
	for u := range m.Units {
		units = append(units, u)
	}
	sort.Strings(units)
	for _, u := range units {
		n := c.Find(u)
		if n == nil {
			n = c.FindIRI(u)
		}
		if n == nil {
			return &Problem{File: SkillsFile, Msg: fmt.Sprintf("units.%s: names no item or AU of the package", u)}
		}
		s := m.Units[u]
		for _, k := range s.Teaches {
			if !slices.Contains(n.Teaches, k) {
				n.Teaches = append(n.Teaches, k)
			}
		}
		for _, k := range s.Assesses {
			if !slices.Contains(n.Assesses, k) {
				n.Assesses = append(n.Assesses, k)
			}
		}
		for _, k := range append(slices.Clone(s.Teaches), s.Assesses...) {
			if _, ok := c.Skills[k]; !ok {
				c.Skills[k] = ""
			}
		}
	}
	return nil
}

// Batch turns the course into catalog records: its declared skills, the
// course, modules and units as activities (units with a mastery score are
// assessments), and its prerequisites as skill edges. The knowledge graph
// orders skills, not activities, so a unit that takes part in a
// prerequisite and declares no skill gets one of its own, named after it,
// whose id is the unit's IRI.
func (c *Course) Batch() *graph.Batch {
	b := &graph.Batch{}
	skills := map[string]string{}
	for id, name := range c.Skills {
		skills[id] = name
	}
	own := func(n *Node) []string {
		s := append(slices.Clone(n.Teaches), n.Assesses...)
		if len(s) == 0 {
			skills[n.IRI] = n.Title
			n.Teaches = []string{n.IRI}
			s = n.Teaches
		}
		return slices.Compact(s)
	}
	var edges []graph.Edge
	var lines []int
	c.Root.Walk(func(_, n *Node) {
		for _, p := range n.Prerequisites {
			pn := c.Find(p)
			if pn == nil {
				continue
			}
			for _, from := range own(pn) {
				for _, to := range own(n) {
					if from != to && !slices.Contains(edges, graph.Edge{From: from, To: to}) {
						edges = append(edges, graph.Edge{From: from, To: to})
						lines = append(lines, n.line)
					}
				}
			}
		}
	})
	c.Root.Walk(func(_, n *Node) {
		for _, s := range append(slices.Clone(n.Teaches), n.Assesses...) {
			if _, ok := skills[s]; !ok {
				skills[s] = ""
			}
		}
	})
	ids := make([]string, 0, len(skills))
	for id := range skills {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		b.Records = append(b.Records, graph.Record{Kind: graph.KindSkill, Skill: graph.Skill{ID: id, Name: skills[id]}})
	}
	for i, e := range edges {
		b.Records = append(b.Records, graph.Record{Line: lines[i], Kind: graph.KindPrerequisite, Edge: e})
	}
	c.Root.Walk(func(p, n *Node) {
		a := graph.Activity{ID: n.IRI, Title: n.Title, Duration: n.Duration, Teaches: n.Teaches}
		switch {
		case n.Kind == KindCourse:
			a.Type = graph.TypeCourse
		case n.Kind == KindModule:
			a.Type = graph.TypeModule
		case n.MasteryScore != nil:
			a.Type = graph.TypeAssessment
			a.Assesses = n.Assesses
			if len(a.Assesses) == 0 {
				// A scored unit assesses what it teaches.
				a.Assesses = n.Teaches
			}
		default:
			a.Type = graph.TypeItem
			a.Assesses = n.Assesses
		}
		if p != nil {
			a.Parent = p.IRI
		}
		b.Records = append(b.Records, graph.Record{Line: n.line, Kind: graph.KindActivity, Activity: a})
	})
	return b
}
