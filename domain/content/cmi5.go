package content

import (
	"bytes"
	"fmt"
	"math"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// CMI5File is the cmi5 course structure's name at the package root.
const CMI5File = "cmi5.xml"

// cmi5 moveOn values and launch methods (cmi5 section 13.1.4).
var (
	moveOnValues  = []string{"Passed", "Completed", "CompletedAndPassed", "CompletedOrPassed", "NotApplicable"}
	launchMethods = []string{"AnyWindow", "OwnWindow"}
)

type cmi5Reader struct {
	opts  Options
	probs Problems
	ids   map[string]int
	objs  map[string]string // objective id to title
	c     *Course
}

func (r *cmi5Reader) problem(n *node, format string, args ...any) {
	p := &Problem{File: CMI5File, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Element = n.line, n.name.Local
	}
	r.probs = append(r.probs, p)
}

// ParseCMI5 reads a cmi5 course structure. In a package (opts.Exists set)
// relative AU URLs must name files of the package; a bare cmi5.xml needs
// absolute AU URLs.
func ParseCMI5(data []byte, opts Options) (*Course, error) {
	root, err := parseXML(CMI5File, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if root.name.Local != "courseStructure" {
		return nil, &Problem{File: CMI5File, Line: root.line, Element: root.name.Local, Msg: "the root element must be <courseStructure>"}
	}
	r := &cmi5Reader{opts: opts, ids: map[string]int{}, objs: map[string]string{}}
	cn := root.child("course")
	if cn == nil {
		r.problem(root, "element <course> is required")
		return nil, r.probs
	}
	id := r.iri(cn, "course")
	r.c = &Course{Type: CMI5, Identifier: id, IRI: id, Title: cn.child("title").langString("en"),
		Description: cn.child("description").langString("en"), Skills: map[string]string{}}
	if r.c.Title == "" {
		r.problem(cn, "course: element <title> is required")
	}
	for _, o := range root.child("objectives").all("objective") {
		oid := r.iri(o, "objective")
		if oid == "" {
			continue
		}
		if _, dup := r.objs[oid]; dup {
			r.problem(o, "objective %q is defined twice", oid)
			continue
		}
		title := o.child("title").langString("en")
		r.objs[oid] = title
		r.c.Skills[oid] = title
	}
	r.c.Root = &Node{Kind: KindCourse, Identifier: id, IRI: id, Title: r.c.Title, Description: r.c.Description, line: cn.line}
	r.children(root, r.c.Root)
	if len(r.c.Units()) == 0 && len(r.probs) == 0 {
		r.problem(root, "the course has no <au>")
	}
	return finish(r.c, r.probs, opts.Skills)
}

// iri reads and checks the id attribute of an element: an absolute IRI,
// unique in the course structure.
func (r *cmi5Reader) iri(n *node, what string) string {
	id, _ := n.attr("id")
	if id == "" {
		r.problem(n, "%s: attribute id is required", what)
		return ""
	}
	u, err := url.Parse(id)
	if err != nil || !u.IsAbs() || strings.ContainsAny(id, " \t\n") {
		r.problem(n, "%s: id %q is not an absolute IRI", what, id)
		return ""
	}
	if what == "objective" {
		return id
	}
	if first, dup := r.ids[id]; dup {
		r.problem(n, "%s: id %q is used by another element (line %d)", what, id, first)
		return ""
	}
	r.ids[id] = n.line
	return id
}

func (r *cmi5Reader) children(parent *node, into *Node) {
	for _, c := range parent.children {
		switch c.name.Local {
		case "au":
			if n := r.au(c); n != nil {
				into.Children = append(into.Children, n)
			}
		case "block":
			id := r.iri(c, "block")
			b := &Node{Kind: KindModule, Identifier: id, IRI: id, Title: c.child("title").langString("en"),
				Description: c.child("description").langString("en"), line: c.line}
			if b.Title == "" {
				r.problem(c, "block %q: element <title> is required", id)
			}
			r.objectiveRefs(c, b)
			r.children(c, b)
			if len(b.Children) == 0 {
				r.problem(c, "block %q holds no <au> or <block>", id)
			}
			if id != "" {
				into.Children = append(into.Children, b)
			}
		}
	}
}

func (r *cmi5Reader) objectiveRefs(n *node, into *Node) {
	for _, o := range n.child("objectives").all("objective") {
		ref, _ := o.attr("idref")
		if _, ok := r.objs[ref]; !ok {
			r.problem(o, "idref %q names no course objective", ref)
			continue
		}
		if !slices.Contains(into.Teaches, ref) {
			into.Teaches = append(into.Teaches, ref)
		}
	}
}

func (r *cmi5Reader) au(c *node) *Node {
	id := r.iri(c, "au")
	n := &Node{Kind: KindAU, Identifier: id, IRI: id, Title: c.child("title").langString("en"),
		Description: c.child("description").langString("en"), MoveOn: "NotApplicable", LaunchMethod: "AnyWindow", line: c.line}
	if n.Title == "" {
		r.problem(c, "au %q: element <title> is required", id)
	}
	if v, ok := c.attr("moveOn"); ok {
		if !slices.Contains(moveOnValues, v) {
			r.problem(c, "au %q: moveOn %q is not one of %s", id, v, strings.Join(moveOnValues, ", "))
		}
		n.MoveOn = v
	}
	if v, ok := c.attr("launchMethod"); ok {
		if !slices.Contains(launchMethods, v) {
			r.problem(c, "au %q: launchMethod %q is not one of %s", id, v, strings.Join(launchMethods, ", "))
		}
		n.LaunchMethod = v
	}
	if v, ok := c.attr("masteryScore"); ok {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil || s < 0 || s > 1 || math.IsNaN(s) {
			r.problem(c, "au %q: masteryScore %q is not a decimal between 0 and 1", id, v)
		} else {
			n.MasteryScore = &s
		}
	}
	n.LaunchData = c.child("launchParameters").value()
	n.EntitlementKey = c.child("entitlementKey").value()
	r.objectiveRefs(c, n)
	un := c.child("url")
	raw := un.value()
	if raw == "" {
		r.problem(c, "au %q: element <url> is required", id)
		return n
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		r.problem(un, "au %q: %q is not a URL: %v", id, raw, err)
	case u.IsAbs():
		if u.Scheme != "http" && u.Scheme != "https" {
			r.problem(un, "au %q: %q must be an http or https URL", id, raw)
		}
	case r.opts.Exists == nil:
		r.problem(un, "au %q: %q is relative, but a cmi5.xml without a package needs absolute AU URLs", id, raw)
	default:
		p, _ := url.PathUnescape(u.Path)
		if strings.HasPrefix(p, "/") || strings.HasPrefix(path.Clean(p), "..") {
			r.problem(un, "au %q: %q leaves the package", id, raw)
		} else if !r.opts.Exists(path.Clean(p)) {
			r.problem(un, "au %q: %q names no file in the package", id, path.Clean(p))
		}
	}
	n.Launch = raw
	return n
}
