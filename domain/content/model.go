// Package content reads e-learning packages (SCORM 1.2, SCORM 2004 3rd and
// 4th edition, cmi5) into a course model, checks package archives before
// they are unpacked, and maps SCORM run-time data to xAPI statements.
// It is pure: callers do the IO.
package content

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Type is the kind of a package.
type Type string

// Package types.
const (
	SCORM12      Type = "scorm12"
	SCORM2004_3  Type = "scorm2004-3"
	SCORM2004_4  Type = "scorm2004-4"
	CMI5         Type = "cmi5"
	unknownScorm Type = ""
)

// IsSCORM2004 reports whether t is either SCORM 2004 edition.
func (t Type) IsSCORM2004() bool { return t == SCORM2004_3 || t == SCORM2004_4 }

// ErrInvalid marks a package that cannot be imported; ErrUnsupported one
// whose type learnstream does not read.
var (
	ErrInvalid     = errors.New("invalid package")
	ErrUnsupported = errors.New("unsupported package type")
)

// Problem is one thing wrong with a package, located by file, line and
// element where that is known.
type Problem struct {
	File    string
	Line    int
	Element string
	Msg     string
	Err     error // ErrUnsupported or nil (then ErrInvalid)
}

func (p *Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	}
	if p.Element != "" {
		fmt.Fprintf(&b, "<%s>: ", p.Element)
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Unwrap lets errors.Is tell unsupported packages from invalid ones.
func (p *Problem) Unwrap() error {
	if p.Err != nil {
		return p.Err
	}
	return ErrInvalid
}

// finish applies a package's skill mapping (if any) to a parsed course and
// returns the course, or every problem found in the package.
func finish(c *Course, probs Problems, skills *SkillMap) (*Course, error) {
	if skills != nil {
		if p := skills.apply(c); p != nil {
			probs = append(probs, p)
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return c, nil
}

// Problems is every problem found in one manifest; nothing of it is used.
type Problems []*Problem

func (ps Problems) Error() string {
	if len(ps) == 1 {
		return ps[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems:", len(ps))
	for _, p := range ps {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems, so errors.Is and errors.As see each.
func (ps Problems) Unwrap() []error {
	out := make([]error, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}

// Course is a package read into learnstream's model.
type Course struct {
	Type Type `json:"type"`
	// Identifier is the manifest's (SCORM) or the course's (cmi5) id; with
	// the IRI base it makes the activity IRIs, so a new version of the same
	// package keeps them.
	Identifier string `json:"identifier"`
	Version    string `json:"version,omitempty"`
	// IRI is the course activity's id.
	IRI   string `json:"iri"`
	Title string `json:"title"`
	// Description is the course description (cmi5; SCORM LOM general
	// description), or "".
	Description string `json:"description,omitempty"`
	// Root is the course's organisation tree; its children are the
	// modules (SCORM aggregations, cmi5 blocks) and units.
	Root *Node `json:"root"`
	// Skills are the skills the package declares (id to name).
	Skills map[string]string `json:"skills,omitempty"`
}

// NodeKind is the role of a node in the organisation tree.
type NodeKind string

// Node kinds.
const (
	KindCourse NodeKind = "course"
	KindModule NodeKind = "module" // SCORM aggregation, cmi5 block
	KindSCO    NodeKind = "sco"    // launchable SCORM item (SCO or asset)
	KindAU     NodeKind = "au"     // cmi5 assignable unit
)

// Node is one activity of the organisation tree.
type Node struct {
	Kind NodeKind `json:"kind"`
	// Identifier is the item's identifier in the manifest (SCORM) or its
	// id (cmi5).
	Identifier string `json:"identifier"`
	IRI        string `json:"iri"`
	Title      string `json:"title"`
	// Description is the cmi5 description or "".
	Description string `json:"description,omitempty"`
	// Launch is the launch URL: a path inside the package (with the item's
	// parameters), or an absolute URL (cmi5 AUs hosted elsewhere).
	Launch string `json:"launch,omitempty"`
	// Asset is true for SCORM items whose resource is an asset, not a SCO:
	// they are launched but never call the run-time API.
	Asset bool `json:"asset,omitempty"`
	// Duration is the typical learning time, or the time limit when only
	// that is declared.
	Duration time.Duration `json:"duration,omitempty"`
	// MasteryScore is the scaled score in [0, 1] at or above which the
	// unit is passed; nil when the package declares none.
	MasteryScore *float64 `json:"masteryScore,omitempty"`
	// LaunchData is the SCORM adlcp:datafromlms / dataFromLMS, or the cmi5
	// launchParameters.
	LaunchData string `json:"launchData,omitempty"`
	// MoveOn is the cmi5 moveOn criterion (Passed, Completed,
	// CompletedAndPassed, CompletedOrPassed, NotApplicable).
	MoveOn string `json:"moveOn,omitempty"`
	// LaunchMethod is the cmi5 launchMethod (AnyWindow, OwnWindow).
	LaunchMethod string `json:"launchMethod,omitempty"`
	// EntitlementKey is the cmi5 entitlementKey, or "".
	EntitlementKey string `json:"entitlementKey,omitempty"`
	// Prerequisites are the identifiers of nodes that must be satisfied
	// before this one (SCORM 1.2 adlcp:prerequisites, SCORM 2004
	// precondition rules).
	Prerequisites []string `json:"prerequisites,omitempty"`
	// Teaches and Assesses are declared skills.
	Teaches  []string `json:"teaches,omitempty"`
	Assesses []string `json:"assesses,omitempty"`
	Children []*Node  `json:"children,omitempty"`
	line     int
}

// Walk calls fn for n and every node below it, parents first.
func (n *Node) Walk(fn func(parent, n *Node)) {
	var walk func(p, x *Node)
	walk = func(p, x *Node) {
		fn(p, x)
		for _, c := range x.Children {
			walk(x, c)
		}
	}
	walk(nil, n)
}

// Find returns the node with the identifier, or nil.
func (c *Course) Find(identifier string) *Node {
	return c.first(func(n *Node) bool { return n.Identifier == identifier })
}

// FindIRI returns the node with the activity IRI, or nil.
func (c *Course) FindIRI(iri string) *Node {
	return c.first(func(n *Node) bool { return n.IRI == iri })
}

// first returns the first node in tree order that match holds for, or nil.
func (c *Course) first(match func(*Node) bool) *Node {
	var out *Node
	c.Root.Walk(func(_, n *Node) {
		if out == nil && match(n) {
			out = n
		}
	})
	return out
}

// Units returns the launchable nodes (SCOs, assets, AUs) in tree order.
func (c *Course) Units() []*Node {
	var out []*Node
	c.Root.Walk(func(_, n *Node) {
		if n.Kind == KindSCO || n.Kind == KindAU {
			out = append(out, n)
		}
	})
	return out
}
