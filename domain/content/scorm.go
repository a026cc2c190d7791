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
	"time"

	"github.com/learnstream/learnstream/domain/graph"
)

// ManifestFile is the SCORM manifest's name at the package root.
const ManifestFile = "imsmanifest.xml"

// Options tune parsing.
type Options struct {
	// IRIBase prefixes the activity IRIs of SCORM packages (which have
	// identifiers, not IRIs): <base>scorm/<manifest>/<item>. It must be an
	// absolute IRI; it should end in "/".
	IRIBase string
	// Exists reports whether the package holds a file (a slash-separated
	// path from its root); nil skips the check (a bare cmi5.xml).
	Exists func(name string) bool
	// Skills, when set, is the package's optional skill mapping file.
	Skills *SkillMap
}

// manifest is the state of one SCORM manifest being read.
type manifest struct {
	opts      Options
	probs     Problems
	typ       Type
	resources map[string]*node
	base      string // xml:base of <resources>
	ids       map[string]int
	course    *Course
	// objective writers and readers for SCORM 2004 precondition rules:
	// global objective id to the items that write its satisfaction.
	writers map[string][]string
	pending []pendingRule
	scripts []pendingScript
}

type pendingRule struct {
	item, target string
	line         int
}

type pendingScript struct {
	item   *Node
	script string
	line   int
}

func (m *manifest) problem(n *node, format string, args ...any) {
	p := &Problem{File: ManifestFile, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Element = n.line, qname(n)
	}
	m.probs = append(m.probs, p)
}

func qname(n *node) string {
	switch {
	case strings.Contains(n.name.Space, "adlcp"):
		return "adlcp:" + n.name.Local
	case strings.Contains(n.name.Space, "imsss"):
		return "imsss:" + n.name.Local
	}
	return n.name.Local
}

// ParseSCORM reads a SCORM 1.2 or 2004 imsmanifest.xml.
func ParseSCORM(data []byte, opts Options) (*Course, error) {
	if err := checkBase(opts.IRIBase); err != nil {
		return nil, err
	}
	root, err := parseXML(ManifestFile, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	if root.name.Local != "manifest" {
		return nil, &Problem{File: ManifestFile, Line: root.line, Element: root.name.Local, Msg: "the root element must be <manifest>"}
	}
	m := &manifest{opts: opts, resources: map[string]*node{}, ids: map[string]int{}, writers: map[string][]string{}}
	m.typ = scormType(root)
	if m.typ == unknownScorm {
		return nil, &Problem{File: ManifestFile, Line: root.line, Element: "manifest", Err: ErrUnsupported,
			Msg: "neither SCORM 1.2 nor SCORM 2004 (metadata/schemaversion and the adlcp namespace name no supported version)"}
	}
	id, _ := root.attr("identifier")
	if id == "" {
		m.problem(root, "attribute identifier is required (it makes the activity IRIs)")
	}
	version, _ := root.attr("version")
	m.course = &Course{Type: m.typ, Identifier: id, Version: version, IRI: m.iri(id, ""), Skills: map[string]string{}}

	res := root.child("resources")
	if res == nil {
		m.problem(root, "element <resources> is required")
	} else {
		m.base, _ = res.attr("base")
		for _, r := range res.all("resource") {
			rid, _ := r.attr("identifier")
			if rid == "" {
				m.problem(r, "attribute identifier is required")
				continue
			}
			if _, dup := m.resources[rid]; dup {
				m.problem(r, "identifier %q is used by another resource", rid)
				continue
			}
			m.resources[rid] = r
		}
	}

	orgs := root.child("organizations")
	if orgs == nil {
		m.problem(root, "element <organizations> is required")
		return nil, m.probs
	}
	org := pickOrganization(orgs)
	if org == nil {
		m.problem(orgs, "at least one <organization> is required")
		return nil, m.probs
	}
	m.course.Title = org.child("title").value()
	if m.course.Title == "" {
		m.problem(org, "element <title> is required")
	}
	m.course.Description = lomDescription(root.child("metadata"))
	if m.course.Description == "" {
		m.course.Description = lomDescription(org.child("metadata"))
	}
	m.course.Root = &Node{Kind: KindCourse, Identifier: id, IRI: m.course.IRI, Title: m.course.Title, line: org.line}
	m.addSkills(m.course.Root, org.child("metadata"))
	for _, it := range org.all("item") {
		if n := m.item(it); n != nil {
			m.course.Root.Children = append(m.course.Root.Children, n)
		}
	}
	if len(m.course.Units()) == 0 && len(m.probs) == 0 {
		m.problem(org, "the organization has no launchable item")
	}
	m.resolvePrerequisites()
	return finish(m.course, m.probs, opts.Skills)
}

// scormType tells the version from metadata/schemaversion, falling back to
// the namespaces in use.
func scormType(root *node) Type {
	sv := strings.ToLower(root.path("metadata", "schemaversion").value())
	switch {
	case sv == "1.2":
		return SCORM12
	case strings.Contains(sv, "4th"):
		return SCORM2004_4
	case strings.Contains(sv, "2004") || strings.Contains(sv, "cam 1.3"):
		return SCORM2004_3
	}
	var found Type
	var walk func(n *node)
	walk = func(n *node) {
		for _, a := range n.attrs {
			switch {
			case a.Value == "http://www.adlnet.org/xsd/adlcp_rootv1p2":
				found = SCORM12
			case a.Value == "http://www.adlnet.org/xsd/adlcp_v1p3" && found == unknownScorm:
				found = SCORM2004_3
			}
		}
		if found != unknownScorm {
			return
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(root)
	return found
}

func pickOrganization(orgs *node) *node {
	def, _ := orgs.attr("default")
	all := orgs.all("organization")
	for _, o := range all {
		if id, _ := o.attr("identifier"); def != "" && id == def {
			return o
		}
	}
	if len(all) == 0 {
		return nil
	}
	return all[0]
}

func (m *manifest) iri(manifestID, itemID string) string {
	s := m.opts.IRIBase + "scorm/" + url.PathEscape(manifestID)
	if itemID != "" {
		s += "/" + url.PathEscape(itemID)
	}
	return s
}

func (m *manifest) item(it *node) *Node {
	id, _ := it.attr("identifier")
	if id == "" {
		m.problem(it, "attribute identifier is required")
		return nil
	}
	if first, dup := m.ids[id]; dup {
		m.problem(it, "identifier %q is used by another item (line %d)", id, first)
		return nil
	}
	m.ids[id] = it.line
	n := &Node{Kind: KindModule, Identifier: id, IRI: m.iri(m.course.Identifier, id), Title: it.child("title").value(), line: it.line}
	if n.Title == "" {
		m.problem(it, "item %q: element <title> is required", id)
	}
	m.addSkills(n, it.child("metadata"))
	if d := lomDuration(it.child("metadata")); d > 0 {
		n.Duration = d
	}
	if ref, ok := it.attr("identifierref"); ok && ref != "" {
		n.Kind = KindSCO
		m.launch(it, n, ref)
	}
	if m.typ == SCORM12 {
		m.scorm12Item(it, n)
	} else {
		m.scorm2004Item(it, n)
	}
	for _, c := range it.all("item") {
		if cn := m.item(c); cn != nil {
			n.Children = append(n.Children, cn)
		}
	}
	if n.Kind == KindSCO && len(n.Children) > 0 {
		m.problem(it, "item %q has both a resource (identifierref) and child items", id)
	}
	if n.Kind == KindModule && len(n.Children) == 0 {
		m.problem(it, "item %q has neither a resource (identifierref) nor child items", id)
	}
	return n
}

func (m *manifest) launch(it *node, n *Node, ref string) {
	r := m.resources[ref]
	if r == nil {
		m.problem(it, "item %q: identifierref %q names no <resource>", n.Identifier, ref)
		return
	}
	st, _ := r.attrFold("scormtype")
	n.Asset = strings.EqualFold(st, "asset")
	href, _ := r.attr("href")
	if href == "" {
		m.problem(r, "resource %q: attribute href is required for a launchable resource", ref)
		return
	}
	base, _ := r.attr("base")
	full := m.base + base + href
	u, err := url.Parse(full)
	if err != nil {
		m.problem(r, "resource %q: href %q is not a URL: %v", ref, full, err)
		return
	}
	if !u.IsAbs() {
		p, err := url.PathUnescape(u.Path)
		if err != nil {
			p = u.Path
		}
		clean := path.Clean("/" + p)[1:]
		if strings.HasPrefix(p, "/") || strings.HasPrefix(path.Clean(p), "..") {
			m.problem(r, "resource %q: href %q leaves the package", ref, full)
			return
		}
		if m.opts.Exists != nil && !m.opts.Exists(clean) {
			m.problem(r, "resource %q: href %q names no file in the package", ref, clean)
			return
		}
	}
	if params, _ := it.attr("parameters"); params != "" {
		full = appendParameters(full, params)
	}
	n.Launch = full
}

// appendParameters joins an item's parameters to its resource's href, the
// way the content packaging specification describes: a leading "?" becomes
// "&" when the href already has a query.
func appendParameters(href, params string) string {
	switch {
	case strings.HasPrefix(params, "#"):
		if strings.Contains(href, "#") {
			return href
		}
		return href + params
	case strings.HasPrefix(params, "?"):
		params = params[1:]
	}
	if strings.Contains(href, "?") {
		return href + "&" + params
	}
	return href + "?" + params
}

func (m *manifest) scorm12Item(it *node, n *Node) {
	for _, c := range it.children {
		switch strings.ToLower(c.name.Local) {
		case "masteryscore":
			v, err := strconv.ParseFloat(c.value(), 64)
			if err != nil || v < 0 || v > 100 || math.IsNaN(v) {
				m.problem(c, "item %q: %q is not a score between 0 and 100", n.Identifier, c.value())
				continue
			}
			s := v / 100
			n.MasteryScore = &s
		case "maxtimeallowed":
			d, err := parseCMITimespan(c.value())
			if err != nil {
				m.problem(c, "item %q: %v", n.Identifier, err)
				continue
			}
			if n.Duration == 0 {
				n.Duration = d
			}
		case "datafromlms":
			n.LaunchData = c.value()
		case "prerequisites":
			if t, _ := c.attr("type"); t != "" && t != "aicc_script" {
				m.problem(c, "item %q: prerequisites of type %q are not supported (only aicc_script)", n.Identifier, t)
				continue
			}
			m.scripts = append(m.scripts, pendingScript{item: n, script: c.value(), line: c.line})
		}
	}
}

func (m *manifest) scorm2004Item(it *node, n *Node) {
	if d := it.child("dataFromLMS"); d != nil {
		n.LaunchData = d.value()
	}
	seq := it.child("sequencing")
	if seq == nil {
		return
	}
	if lc := seq.child("limitConditions"); lc != nil && n.Duration == 0 {
		if v, ok := lc.attr("attemptAbsoluteDurationLimit"); ok && v != "" {
			d, err := graph.ParseDuration(v)
			if err != nil {
				m.problem(lc, "item %q: attemptAbsoluteDurationLimit: %v", n.Identifier, err)
			} else {
				n.Duration = d
			}
		}
	}
	// Objectives: the primary objective gives the mastery score; mapInfo
	// links local objectives to global ones, which is how one item's
	// satisfaction reaches another's precondition rule.
	local := map[string][]string{} // local objective id to global ids read
	if objs := seq.child("objectives"); objs != nil {
		for _, o := range objs.children {
			if o.name.Local != "primaryObjective" && o.name.Local != "objective" {
				continue
			}
			oid, _ := o.attr("objectiveID")
			if o.name.Local == "primaryObjective" {
				if by, _ := o.attr("satisfiedByMeasure"); by == "true" {
					s := 1.0
					if mm := o.child("minNormalizedMeasure"); mm != nil {
						v, err := strconv.ParseFloat(mm.value(), 64)
						if err != nil || v < -1 || v > 1 || math.IsNaN(v) {
							m.problem(mm, "item %q: %q is not a measure between -1 and 1", n.Identifier, mm.value())
						} else {
							s = v
						}
					}
					n.MasteryScore = &s
				}
			}
			for _, mi := range o.all("mapInfo") {
				target, _ := mi.attr("targetObjectiveID")
				if target == "" {
					m.problem(mi, "item %q: attribute targetObjectiveID is required", n.Identifier)
					continue
				}
				// readSatisfiedStatus defaults to true, writeSatisfiedStatus to false.
				if w, _ := mi.attr("writeSatisfiedStatus"); w == "true" && o.name.Local == "primaryObjective" {
					m.writers[target] = append(m.writers[target], n.Identifier)
				}
				if r, ok := mi.attr("readSatisfiedStatus"); !ok || r == "true" {
					local[oid] = append(local[oid], target)
				}
			}
		}
	}
	rules := seq.child("sequencingRules")
	for _, pr := range rules.all("preConditionRule") {
		action, _ := pr.child("ruleAction").attr("action")
		if action != "disabled" && action != "skip" && action != "hiddenFromChoice" {
			continue
		}
		conds := pr.child("ruleConditions")
		for _, rc := range conds.all("ruleCondition") {
			cond, _ := rc.attr("condition")
			op, _ := rc.attr("operator")
			ref, _ := rc.attr("referencedObjective")
			// "if not satisfied then disabled" is the prerequisite pattern;
			// other conditions are sequencing behaviour, not prerequisites.
			if cond != "satisfied" || op != "not" || ref == "" {
				continue
			}
			targets, ok := local[ref]
			if !ok {
				m.problem(rc, "item %q: referencedObjective %q is not one of the item's objectives with a mapInfo that reads satisfaction", n.Identifier, ref)
				continue
			}
			for _, t := range targets {
				m.pending = append(m.pending, pendingRule{item: n.Identifier, target: t, line: rc.line})
			}
		}
	}
}

func (m *manifest) resolvePrerequisites() {
	for _, s := range m.scripts {
		ids, err := scriptIdentifiers(s.script)
		if err != nil {
			m.probs = append(m.probs, &Problem{File: ManifestFile, Line: s.line, Element: "adlcp:prerequisites",
				Msg: fmt.Sprintf("item %q: %v", s.item.Identifier, err)})
			continue
		}
		for _, id := range ids {
			if _, ok := m.ids[id]; !ok {
				m.probs = append(m.probs, &Problem{File: ManifestFile, Line: s.line, Element: "adlcp:prerequisites",
					Msg: fmt.Sprintf("item %q: %q names no item", s.item.Identifier, id)})
				continue
			}
			if id == s.item.Identifier {
				m.probs = append(m.probs, &Problem{File: ManifestFile, Line: s.line, Element: "adlcp:prerequisites",
					Msg: fmt.Sprintf("item %q is its own prerequisite", id)})
				continue
			}
			if !slices.Contains(s.item.Prerequisites, id) {
				s.item.Prerequisites = append(s.item.Prerequisites, id)
			}
		}
	}
	for _, p := range m.pending {
		n := m.course.Find(p.item)
		writers := m.writers[p.target]
		if len(writers) == 0 {
			m.probs = append(m.probs, &Problem{File: ManifestFile, Line: p.line, Element: "imsss:ruleCondition",
				Msg: fmt.Sprintf("item %q: no item writes the satisfaction of global objective %q", p.item, p.target)})
			continue
		}
		for _, w := range writers {
			if w != p.item && !slices.Contains(n.Prerequisites, w) {
				n.Prerequisites = append(n.Prerequisites, w)
			}
		}
	}
}

// scriptIdentifiers returns the item identifiers an aicc_script
// prerequisite requires: every identifier except those under "~" (not),
// the counts of "n*{...}" sets and the status values compared with "=" or
// "<>".
func scriptIdentifiers(script string) ([]string, error) {
	var out []string
	depth := 0
	negate := false
	skipNext := false
	i := 0
	for i < len(script) {
		c := script[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == '{':
			depth++
			negate = false
			i++
		case c == ')' || c == '}':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced %q in %q", c, script)
			}
			i++
		case c == '&' || c == '|' || c == ',':
			negate = false
			i++
		case c == '~':
			negate = true
			i++
		case c == '=':
			skipNext = true
			i++
		case c == '<' && i+1 < len(script) && script[i+1] == '>':
			skipNext = true
			i += 2
		case c == '"':
			end := strings.IndexByte(script[i+1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", script)
			}
			i += end + 2
			skipNext = false
		default:
			j := i
			for j < len(script) && !strings.ContainsRune(" \t\r\n(){}&|,~=<>\"*", rune(script[j])) {
				j++
			}
			if j == i {
				if script[i] == '*' {
					i++
					continue
				}
				return nil, fmt.Errorf("unexpected %q in %q", script[i], script)
			}
			tok := script[i:j]
			count := j < len(script) && script[j] == '*'
			if !count && !skipNext && !negate && !slices.Contains(out, tok) {
				out = append(out, tok)
			}
			skipNext, negate = false, false
			i = j
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced parentheses in %q", script)
	}
	return out, nil
}

// parseCMITimespan reads a SCORM 1.2 CMITimespan (HHHH:MM:SS.SS).
func parseCMITimespan(s string) (time.Duration, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("%q is not a time span HHHH:MM:SS.SS", s)
	}
	h, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || h > 9999 || len(parts[0]) < 2 || mi < 0 || mi > 59 || sec < 0 || sec >= 60 || len(parts[1]) != 2 {
		return 0, fmt.Errorf("%q is not a time span HHHH:MM:SS.SS", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(math.Round(sec*100))*10*time.Millisecond, nil
}

// lomDuration reads an inline LOM educational/typicalLearningTime.
func lomDuration(md *node) time.Duration {
	tlt := md.path("lom", "educational", "typicalLearningTime")
	if tlt == nil {
		return 0
	}
	if v := tlt.child("duration").value(); v != "" {
		if d, err := graph.ParseDuration(v); err == nil {
			return d
		}
	}
	if v := tlt.child("datetime").value(); v != "" {
		if d, err := parseCMITimespan(v); err == nil {
			return d
		}
	}
	return 0
}

func lomDescription(md *node) string {
	return md.path("lom", "general", "description").langString("")
}

// addSkills reads skills declared in inline LOM metadata: a classification
// whose purpose is "competency" or "educational objective" lists them as
// taxons (the taxon id, else its entry, is the skill id).
func (m *manifest) addSkills(n *Node, md *node) {
	for _, cl := range md.path("lom").all("classification") {
		purpose := strings.ToLower(cl.path("purpose", "value").langString(""))
		if purpose != "competency" && purpose != "educational objective" {
			continue
		}
		for _, tp := range cl.all("taxonPath") {
			for _, tx := range tp.all("taxon") {
				id := tx.child("id").value()
				name := tx.child("entry").langString("")
				if id == "" {
					id = name
				}
				if id == "" {
					m.problem(tx, "a competency taxon needs an <id> or an <entry>")
					continue
				}
				if _, ok := m.course.Skills[id]; !ok || m.course.Skills[id] == "" {
					m.course.Skills[id] = name
				}
				if !slices.Contains(n.Teaches, id) {
					n.Teaches = append(n.Teaches, id)
				}
			}
		}
	}
}

func checkBase(base string) error {
	u, err := url.Parse(base)
	if err != nil || !u.IsAbs() {
		return fmt.Errorf("activity IRI base %q is not an absolute IRI", base)
	}
	return nil
}
