package graph

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// MaxImportBytes bounds the size of one JSON import document.
const MaxImportBytes = 64 << 20

// Kind is the kind of one imported record.
type Kind string

// Record kinds.
const (
	KindSkill        Kind = "skill"
	KindPrerequisite Kind = "prerequisite"
	KindActivity     Kind = "activity"
	KindRole         Kind = "role"
)

// Record is one entity or edge read from an import source, with the line it
// came from. Exactly one of Skill, Edge, Activity and Role is meaningful,
// according to Kind.
type Record struct {
	Line     int
	Kind     Kind
	Skill    Skill
	Edge     Edge
	Activity Activity
	Role     Role
}

// Problem is one thing wrong with an import, located by line (0 when the
// problem concerns the whole input).
type Problem struct {
	Line int
	Msg  string
	Err  error // the underlying error, if any (ErrCycle, ErrUnknown, ...)
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	}
	return p.Msg
}

// ImportError lists every problem found in an import; nothing was applied.
type ImportError struct{ Problems []Problem }

func (e *ImportError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("import rejected, 1 problem: ")
		b.WriteString(e.Problems[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, "import rejected, %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap returns the underlying errors of the problems, so that
// errors.Is(err, ErrCycle) tells whether any problem is a cycle.
func (e *ImportError) Unwrap() []error {
	var out []error
	for _, p := range e.Problems {
		if p.Err != nil {
			out = append(out, p.Err)
		}
	}
	out = append(out, ErrInvalid)
	return out
}

// Batch is the parsed content of an import source: records in source order
// and the problems the parser found.
type Batch struct {
	Records  []Record
	Problems []Problem
}

func (b *Batch) problem(line int, err error, format string, args ...any) {
	b.Problems = append(b.Problems, Problem{Line: line, Msg: fmt.Sprintf(format, args...), Err: err})
}

// ImportOptions tune Apply.
type ImportOptions struct {
	// Partial applies the valid records even when some are bad; the bad ones
	// (and records that depend on them) are listed in ImportReport.Problems
	// and Apply returns a nil error. The default is all or nothing.
	Partial bool
}

// ImportReport says what an import did.
type ImportReport struct {
	Skills, Prerequisites, Activities, Roles int // records applied
	Problems                                 []Problem
}

// Apply validates every record of the batch against a copy of the graph and,
// when there is no problem at all (parse problems included), makes the copy
// the graph. Otherwise it returns an *ImportError listing every problem in
// line order and leaves the graph unchanged (unless opts.Partial).
//
// Records apply in dependency order whatever their order in the source:
// skills, then prerequisite edges (in source order, so the edge that closes
// a cycle is the one reported), then activities (parents first), then roles.
func (g *Graph) Apply(b *Batch, opts ImportOptions) (ImportReport, error) {
	work := g.Clone()
	var rep ImportReport
	problems := slices.Clone(b.Problems)
	add := func(line int, err error) {
		problems = append(problems, Problem{Line: line, Msg: err.Error(), Err: err})
	}
	dup := map[Kind]map[string]int{}
	firstSeen := func(r Record, id string) bool {
		m := dup[r.Kind]
		if m == nil {
			m = map[string]int{}
			dup[r.Kind] = m
		}
		if first, ok := m[id]; ok {
			problems = append(problems, Problem{Line: r.Line, Err: ErrInvalid,
				Msg: fmt.Sprintf("duplicate %s %q (first at line %d)", r.Kind, id, first)})
			return false
		}
		m[id] = r.Line
		return true
	}

	var acts []Record
	for _, r := range b.Records {
		if r.Kind == KindSkill && firstSeen(r, r.Skill.ID) {
			if err := work.PutSkill(r.Skill); err != nil {
				add(r.Line, err)
			} else {
				rep.Skills++
			}
		}
	}
	for _, r := range b.Records {
		if r.Kind == KindPrerequisite {
			if err := work.AddPrerequisite(r.Edge.From, r.Edge.To); err != nil {
				add(r.Line, err)
			} else {
				rep.Prerequisites++
			}
		}
	}
	for _, r := range b.Records {
		if r.Kind == KindActivity && firstSeen(r, r.Activity.ID) {
			acts = append(acts, r)
		}
	}
	// Parents first: depth-first over the batch's parent links.
	byID := make(map[string]int, len(acts))
	for i, r := range acts {
		byID[r.Activity.ID] = i
	}
	state := make([]int8, len(acts)) // 0 new, 1 visiting, 2 done
	var visit func(i int, path []string)
	visit = func(i int, path []string) {
		state[i] = 1
		r := acts[i]
		path = append(path, r.Activity.ID)
		if j, ok := byID[r.Activity.Parent]; ok && r.Activity.Parent != r.Activity.ID {
			switch state[j] {
			case 0:
				visit(j, path)
			case 1:
				at := slices.Index(path, r.Activity.Parent)
				// child -> parent order, as PutActivity reports it
				cyc := append(slices.Clone(path[at:]), r.Activity.Parent)
				add(r.Line, &CycleError{Kind: "parent", Path: cyc})
				state[i] = 2
				return
			}
		}
		if err := work.PutActivity(r.Activity); err != nil {
			add(r.Line, err)
		} else {
			rep.Activities++
		}
		state[i] = 2
	}
	for i := range acts {
		if state[i] == 0 {
			visit(i, nil)
		}
	}
	for _, r := range b.Records {
		if r.Kind == KindRole && firstSeen(r, r.Role.ID) {
			if err := work.PutRole(r.Role); err != nil {
				add(r.Line, err)
			} else {
				rep.Roles++
			}
		}
	}
	slices.SortStableFunc(problems, func(a, b Problem) int { return a.Line - b.Line })
	rep.Problems = problems
	if len(problems) > 0 && !opts.Partial {
		return ImportReport{Problems: problems}, &ImportError{Problems: problems}
	}
	*g = *work
	return rep, nil
}

// ImportJSON parses a JSON catalog document (see ParseJSON) and applies it
// all or nothing.
func (g *Graph) ImportJSON(r io.Reader) (ImportReport, error) {
	return g.Apply(ParseJSON(r), ImportOptions{})
}

// ImportCSV parses a CSV catalog (see ParseCSV) and applies it all or nothing.
func (g *Graph) ImportCSV(r io.Reader) (ImportReport, error) {
	return g.Apply(ParseCSV(r), ImportOptions{})
}

// lineIndex maps byte offsets to 1-based line numbers.
type lineIndex []int // offsets of line starts

func newLineIndex(data []byte) lineIndex {
	idx := lineIndex{0}
	for i, c := range data {
		if c == '\n' {
			idx = append(idx, i+1)
		}
	}
	return idx
}

func (x lineIndex) line(off int64) int {
	i, found := slices.BinarySearch(x, int(off))
	if found {
		return i + 1
	}
	return i
}

type skillIn struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Requires []string `json:"requires"`
}

type edgeIn struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type requirementIn struct {
	Skill string   `json:"skill"`
	Level *float64 `json:"level"`
}

type roleIn struct {
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Requires []requirementIn `json:"requires"`
}

// ParseJSON reads a catalog document:
//
//	{
//	  "skills":        [{"id": "fractions", "name": "Fractions", "requires": ["division"]}],
//	  "prerequisites": [{"from": "fractions", "to": "decimals"}],
//	  "activities":    [{"id": "https://example.org/c/1", "type": "course", "title": "...",
//	                     "duration": "PT2H", "teaches": ["fractions"], "assesses": [], "parent": ""}],
//	  "roles":         [{"id": "analyst", "name": "...", "requires": [{"skill": "fractions", "level": 0.8}]}]
//	}
//
// Every section is optional; a skill's "requires" lists its prerequisites
// (the same as "prerequisites" entries). Unknown fields are problems.
// Durations are ISO 8601 (PT1H30M). Problems carry the line of the element.
func ParseJSON(r io.Reader) *Batch {
	b := &Batch{}
	data, err := io.ReadAll(io.LimitReader(r, MaxImportBytes+1))
	if err != nil {
		b.problem(0, err, "read: %v", err)
		return b
	}
	if len(data) > MaxImportBytes {
		b.problem(0, ErrInvalid, "document larger than %d bytes", MaxImportBytes)
		return b
	}
	lines := newLineIndex(data)
	syntax := func(err error, base int64) {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			b.problem(lines.line(base+se.Offset), ErrInvalid, "JSON syntax: %v", err)
		case errors.As(err, &te):
			b.problem(lines.line(base+te.Offset), ErrInvalid, "JSON: %v", err)
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			b.problem(lines.line(int64(len(data))), ErrInvalid, "JSON: unexpected end of document")
		default:
			b.problem(0, ErrInvalid, "JSON: %v", err)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		syntax(err, 0)
		return b
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		b.problem(1, ErrInvalid, "JSON: the document must be an object with skills, prerequisites, activities and roles arrays")
		return b
	}
	for dec.More() {
		keyOff := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			syntax(err, 0)
			return b
		}
		key, _ := tok.(string)
		kind := map[string]Kind{"skills": KindSkill, "prerequisites": KindPrerequisite, "activities": KindActivity, "roles": KindRole}[key]
		if kind == "" {
			b.problem(lines.line(skipSpace(data, keyOff)), ErrInvalid, "unknown section %q (want skills, prerequisites, activities or roles)", key)
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				syntax(err, 0)
				return b
			}
			continue
		}
		tok, err = dec.Token()
		if err != nil {
			syntax(err, 0)
			return b
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			b.problem(lines.line(dec.InputOffset()), ErrInvalid, "section %q must be an array", key)
			return b
		}
		for i := 0; dec.More(); i++ {
			start := skipSpace(data, dec.InputOffset())
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				syntax(err, 0)
				return b
			}
			line := lines.line(start)
			where := fmt.Sprintf("%s[%d]", key, i)
			b.decodeElement(kind, raw, line, where, func(err error) {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) {
					b.problem(lines.line(start+te.Offset), ErrInvalid, "%s: field %s: want %s, got JSON %s", where, te.Field, te.Type, te.Value)
					return
				}
				b.problem(line, ErrInvalid, "%s: %v", where, strings.TrimPrefix(err.Error(), "json: "))
			})
		}
		if _, err := dec.Token(); err != nil {
			syntax(err, 0)
			return b
		}
	}
	if _, err := dec.Token(); err != nil {
		syntax(err, 0)
		return b
	}
	if _, err := dec.Token(); err != io.EOF {
		b.problem(lines.line(dec.InputOffset()), ErrInvalid, "JSON: data after the document")
	}
	return b
}

// skipSpace returns the offset of the first byte at or after off that is
// neither JSON white space nor a comma.
func skipSpace(data []byte, off int64) int64 {
	for int(off) < len(data) {
		switch data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

func strictDecode(raw []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func (b *Batch) decodeElement(kind Kind, raw []byte, line int, where string, fail func(error)) {
	switch kind {
	case KindSkill:
		var s skillIn
		if err := strictDecode(raw, &s); err != nil {
			fail(err)
			return
		}
		b.Records = append(b.Records, Record{Line: line, Kind: KindSkill, Skill: Skill{ID: s.ID, Name: s.Name}})
		for _, p := range s.Requires {
			b.Records = append(b.Records, Record{Line: line, Kind: KindPrerequisite, Edge: Edge{From: p, To: s.ID}})
		}
	case KindPrerequisite:
		var e edgeIn
		if err := strictDecode(raw, &e); err != nil {
			fail(err)
			return
		}
		b.Records = append(b.Records, Record{Line: line, Kind: KindPrerequisite, Edge: Edge(e)})
	case KindActivity:
		var a activityJSON
		if err := strictDecode(raw, &a); err != nil {
			fail(err)
			return
		}
		d, err := ParseDuration(a.Duration)
		if err != nil {
			b.problem(line, ErrInvalid, "%s: activity %q field duration: %v", where, a.ID, err)
			return
		}
		b.Records = append(b.Records, Record{Line: line, Kind: KindActivity, Activity: Activity{
			ID: a.ID, Type: a.Type, Title: a.Title, Duration: d, Teaches: a.Teaches, Assesses: a.Assesses, Parent: a.Parent}})
	case KindRole:
		var r roleIn
		if err := strictDecode(raw, &r); err != nil {
			fail(err)
			return
		}
		role := Role{ID: r.ID, Name: r.Name}
		for i, q := range r.Requires {
			if q.Level == nil {
				b.problem(line, ErrInvalid, "%s: role %q field requires[%d].level: missing", where, r.ID, i)
				return
			}
			role.Requires = append(role.Requires, Requirement{Skill: q.Skill, Level: *q.Level})
		}
		b.Records = append(b.Records, Record{Line: line, Kind: KindRole, Role: role})
	}
}

// CSV columns understood by ParseCSV.
var csvColumns = []string{"kind", "id", "name", "type", "duration", "teaches", "assesses", "parent", "requires", "from", "to"}

// which columns each kind may fill
var csvUses = map[Kind][]string{
	KindSkill:        {"kind", "id", "name", "requires"},
	KindPrerequisite: {"kind", "from", "to"},
	KindActivity:     {"kind", "id", "name", "type", "duration", "teaches", "assesses", "parent"},
	KindRole:         {"kind", "id", "name", "requires"},
}

// ParseCSV reads a catalog as CSV with a header row. Columns (any order, any
// subset that includes kind): kind, id, name, type, duration, teaches,
// assesses, parent, requires, from, to. Per kind:
//
//	skill:        id, name, requires (its prerequisites, ';'-separated)
//	prerequisite: from, to (from must be learned before to)
//	activity:     id (IRI), name (the title), type, duration (ISO 8601),
//	              teaches and assesses (';'-separated skills), parent
//	role:         id, name, requires ("skill=level;skill=level", levels in [0, 1])
//
// A non-empty column that the row's kind does not use is a problem.
func ParseCSV(r io.Reader) *Batch {
	b := &Batch{}
	cr := csv.NewReader(stripBOM(r))
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err == io.EOF {
		b.problem(0, ErrInvalid, "CSV: empty input (want a header row)")
		return b
	}
	if err != nil {
		b.problem(1, ErrInvalid, "CSV header: %v", err)
		return b
	}
	col := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(csvColumns, name) {
			b.problem(1, ErrInvalid, "CSV header: unknown column %q (want %s)", h, strings.Join(csvColumns, ", "))
			continue
		}
		if _, dupl := col[name]; dupl {
			b.problem(1, ErrInvalid, "CSV header: column %q appears twice", name)
			continue
		}
		col[name] = i
	}
	if _, ok := col["kind"]; !ok {
		b.problem(1, ErrInvalid, "CSV header: missing column kind")
	}
	if len(b.Problems) > 0 {
		return b
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return b
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				b.problem(pe.Line, ErrInvalid, "CSV: %v", pe.Err)
				if errors.Is(pe.Err, csv.ErrFieldCount) {
					continue
				}
				return b
			}
			b.problem(line, ErrInvalid, "CSV: %v", err)
			return b
		}
		get := func(name string) string {
			if i, ok := col[name]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		kind := Kind(strings.ToLower(get("kind")))
		uses, ok := csvUses[kind]
		if !ok {
			b.problem(line, ErrInvalid, "column kind: %q is not skill, prerequisite, activity or role", get("kind"))
			continue
		}
		bad := false
		for _, name := range csvColumns {
			if get(name) != "" && !slices.Contains(uses, name) {
				b.problem(line, ErrInvalid, "column %s: not used by kind %s (leave it empty)", name, kind)
				bad = true
			}
		}
		if bad {
			continue
		}
		switch kind {
		case KindSkill:
			id := get("id")
			b.Records = append(b.Records, Record{Line: line, Kind: kind, Skill: Skill{ID: id, Name: get("name")}})
			for _, p := range splitList(get("requires")) {
				b.Records = append(b.Records, Record{Line: line, Kind: KindPrerequisite, Edge: Edge{From: p, To: id}})
			}
		case KindPrerequisite:
			b.Records = append(b.Records, Record{Line: line, Kind: kind, Edge: Edge{From: get("from"), To: get("to")}})
		case KindActivity:
			d, err := ParseDuration(get("duration"))
			if err != nil {
				b.problem(line, ErrInvalid, "column duration: %v", err)
				continue
			}
			b.Records = append(b.Records, Record{Line: line, Kind: kind, Activity: Activity{
				ID: get("id"), Type: ActivityType(get("type")), Title: get("name"), Duration: d,
				Teaches: splitList(get("teaches")), Assesses: splitList(get("assesses")), Parent: get("parent")}})
		case KindRole:
			role := Role{ID: get("id"), Name: get("name")}
			ok := true
			for _, item := range splitList(get("requires")) {
				eq := strings.LastIndexByte(item, '=')
				if eq < 0 {
					b.problem(line, ErrInvalid, "column requires: %q is not skill=level", item)
					ok = false
					continue
				}
				lv, err := strconv.ParseFloat(strings.TrimSpace(item[eq+1:]), 64)
				if err != nil {
					b.problem(line, ErrInvalid, "column requires: level %q of skill %q is not a number", item[eq+1:], item[:eq])
					ok = false
					continue
				}
				role.Requires = append(role.Requires, Requirement{Skill: strings.TrimSpace(item[:eq]), Level: lv})
			}
			if ok {
				b.Records = append(b.Records, Record{Line: line, Kind: kind, Role: role})
			}
		}
	}
}

func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	parts := strings.Split(s, ";")
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// stripBOM drops a leading UTF-8 byte order mark.
func stripBOM(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		br.Discard(3)
	}
	return br
}

// JunyiOptions tune ParseJunyi.
type JunyiOptions struct {
	// ActivityBase prefixes an exercise name to make its activity IRI
	// (default "urn:junyi:exercise:").
	ActivityBase string
}

// ParseJunyi reads the Junyi Academy exercise table (CSV with a header that
// includes name and prerequisites; pretty_display_name is used as the display
// name when present). Each exercise becomes a skill named after it and an
// activity of type item (IRI ActivityBase + the path-escaped name) that
// teaches and assesses it;
// each name in its comma-separated prerequisites column becomes an edge
// prerequisite -> exercise. An exercise defined twice is a problem (the
// second row is dropped); a prerequisite listed twice in one row counts once.
func ParseJunyi(r io.Reader, opts JunyiOptions) *Batch {
	if opts.ActivityBase == "" {
		opts.ActivityBase = "urn:junyi:exercise:"
	}
	b := &Batch{}
	cr := csv.NewReader(stripBOM(r))
	header, err := cr.Read()
	if err != nil {
		b.problem(1, ErrInvalid, "Junyi CSV header: %v", err)
		return b
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, need := range []string{"name", "prerequisites"} {
		if _, ok := col[need]; !ok {
			b.problem(1, ErrInvalid, "Junyi CSV header: missing column %s", need)
		}
	}
	if len(b.Problems) > 0 {
		return b
	}
	first := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return b
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				b.problem(pe.Line, ErrInvalid, "Junyi CSV: %v", pe.Err)
				if errors.Is(pe.Err, csv.ErrFieldCount) {
					continue
				}
				return b
			}
			b.problem(line, ErrInvalid, "Junyi CSV: %v", err)
			return b
		}
		name := strings.TrimSpace(rec[col["name"]])
		if at, ok := first[name]; ok {
			b.problem(line, ErrInvalid, "duplicate exercise %q (first at line %d); row dropped", name, at)
			continue
		}
		first[name] = line
		display := name
		if i, ok := col["pretty_display_name"]; ok && strings.TrimSpace(rec[i]) != "" {
			display = strings.TrimSpace(rec[i])
		}
		b.Records = append(b.Records,
			Record{Line: line, Kind: KindSkill, Skill: Skill{ID: name, Name: display}},
			Record{Line: line, Kind: KindActivity, Activity: Activity{ID: opts.ActivityBase + url.PathEscape(name), Type: TypeItem,
				Title: display, Teaches: []string{name}, Assesses: []string{name}}})
		var seen []string
		for _, p := range strings.Split(rec[col["prerequisites"]], ",") {
			p = strings.TrimSpace(p)
			if p == "" || slices.Contains(seen, p) {
				continue
			}
			seen = append(seen, p)
			b.Records = append(b.Records, Record{Line: line, Kind: KindPrerequisite, Edge: Edge{From: p, To: name}})
		}
	}
}
