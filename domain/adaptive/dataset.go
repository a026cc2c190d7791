package adaptive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Dataset is a replayable sequence of attempts in time order, in dense-id
// form, as read by ReadDataset.
type Dataset struct {
	Learner []int32
	Item    []int32
	Score   []float64
	Line    []int32 // line of the source file each attempt came from
	// skills of attempt i are skillPool[skillOff[i]:skillOff[i+1]]
	skillOff  []int32
	skillPool []int32
	// Skipped counts bad rows left out under ReadOptions.SkipBad, by rule.
	Skipped map[string]int
	// Defaulted counts rows used with a documented default (ActionDefault
	// validation errors, e.g. an empty skill list), by rule.
	Defaulted map[string]int
	// Timestamps tells whether a non-zero timestamp column decided the order.
	Timestamps bool
}

// Len is the number of attempts.
func (d *Dataset) Len() int { return len(d.Learner) }

// Event fills e with attempt i; e.Skills aliases the dataset's storage and
// must not be modified.
func (d *Dataset) Event(i int, e *Event) {
	e.Learner = d.Learner[i]
	e.Item = d.Item[i]
	e.Score = d.Score[i]
	e.Options = 0
	e.Skills = d.skillPool[d.skillOff[i]:d.skillOff[i+1]:d.skillOff[i+1]]
}

// ReadOptions tune ReadDataset.
type ReadOptions struct {
	// SkipBad leaves bad rows out (counted in Dataset.Skipped) instead of
	// failing on the first one.
	SkipBad bool
	// SkillSeparators split a skill cell into several skills; default ";|".
	SkillSeparators string
}

// RowError is a bad row: its line (1-based, the header is line 1), the
// column by its header name, and the rule it broke.
type RowError struct {
	Line   int
	Column string
	Err    error
}

func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d, column %s: %v", e.Line, e.Column, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// Column aliases accepted in the header (case-insensitive).
var columnAliases = map[string][]string{
	"learner":   {"learner", "learner_id", "user_id", "user", "student_id", "student", "actor"},
	"item":      {"item", "item_id", "problem_id", "question_id", "activity", "activity_id"},
	"skill":     {"skill", "skill_id", "skill_name", "kc", "kc_id", "concept"},
	"correct":   {"correct", "correctness", "outcome", "score"},
	"timestamp": {"timestamp", "time", "ts", "order_id"},
}

// RuleBinary is the rule for the correct column of a dataset: AUC needs
// binary labels.
const RuleBinary = "must be 0 or 1"

// ReadDataset reads attempts from CSV or TSV text (the delimiter is sniffed
// from the header: tab, comma or semicolon; gzip input is detected by its
// magic bytes). The header names the columns learner, item, skill and
// correct, with the aliases in columnAliases (user_id, item_id, skill_id,
// ...), and optionally timestamp. Without a timestamp column, or when every
// timestamp is 0, row order is time order; otherwise rows are stably sorted
// by timestamp (ties keep row order). Ids are interned into ix, so a train
// and a test file read with the same Index share ids.
func ReadDataset(r io.Reader, ix *Index, opt ReadOptions) (*Dataset, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<16)
	}
	head, err := br.Peek(4096)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	if nl := bytes.IndexByte(head, '\n'); nl >= 0 {
		head = head[:nl]
	}
	if len(bytes.TrimSpace(head)) == 0 {
		return nil, &RowError{Line: 1, Err: errors.New("empty input: want a header line")}
	}
	delim, err := sniffDelimiter(head)
	if err != nil {
		return nil, &RowError{Line: 1, Err: err}
	}
	cr := csv.NewReader(br)
	cr.Comma = delim
	cr.FieldsPerRecord = -1 // checked here, to name the line and columns
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, &RowError{Line: 1, Err: err}
	}
	header = append([]string(nil), header...) // ReuseRecord: later reads overwrite it
	cols, err := mapColumns(header)
	if err != nil {
		return nil, &RowError{Line: 1, Err: err}
	}
	seps := opt.SkillSeparators
	if seps == "" {
		seps = ";|"
	}
	d := &Dataset{Skipped: map[string]int{}, Defaulted: map[string]int{}, skillOff: []int32{0}}
	var ts []float64
	var e Event
	var a Attempt
	var score float64
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && pe.Err != csv.ErrFieldCount {
				if opt.SkipBad {
					d.Skipped["csv syntax"]++
					continue
				}
				return nil, &RowError{Line: pe.Line, Err: pe.Err}
			}
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(header) {
			if opt.SkipBad {
				d.Skipped["field count"]++
				continue
			}
			return nil, &RowError{Line: line, Err: fmt.Errorf("has %d fields, the header has %d", len(rec), len(header))}
		}
		rowErr := func(col, rule string, val string) error {
			if opt.SkipBad {
				d.Skipped[col+": "+rule]++
				return nil
			}
			name := col
			if i, ok := cols[col]; ok {
				name = header[i]
			}
			if val != "" {
				return &RowError{Line: line, Column: name, Err: fmt.Errorf("%s (got %q)", rule, val)}
			}
			return &RowError{Line: line, Column: name, Err: errors.New(rule)}
		}
		cell := strings.TrimSpace(rec[cols["correct"]])
		if cell == "" {
			if err := rowErr("correct", RuleRequired, ""); err != nil {
				return nil, err
			}
			continue
		}
		score, err = strconv.ParseFloat(cell, 64)
		if err != nil || (score != 0 && score != 1) {
			if err := rowErr("correct", RuleBinary, cell); err != nil {
				return nil, err
			}
			continue
		}
		var t float64
		if c, ok := cols["timestamp"]; ok {
			t, err = parseTimestamp(strings.TrimSpace(rec[c]))
			if err != nil {
				if err := rowErr("timestamp", "must be a number or an RFC 3339 time", rec[c]); err != nil {
					return nil, err
				}
				continue
			}
		}
		a.Learner = strings.TrimSpace(rec[cols["learner"]])
		a.Item = strings.TrimSpace(rec[cols["item"]])
		a.Skills = splitSkills(a.Skills[:0], rec[cols["skill"]], seps)
		a.Score = &score
		if err := ix.Resolve(&a, &e); err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				return nil, err
			}
			col := ve.Field
			if i := strings.IndexByte(col, '['); i >= 0 {
				col = col[:i]
			}
			col = strings.TrimSuffix(col, "s") // skills -> skill
			if ve.Action == ActionDLQ {
				val := ""
				if ve.Value != "" {
					val = strings.Trim(ve.Value, `"`)
				}
				if err := rowErr(col, ve.Rule, val); err != nil {
					return nil, err
				}
				continue
			}
			d.Defaulted[col+": "+ve.Rule]++
		}
		d.Learner = append(d.Learner, e.Learner)
		d.Item = append(d.Item, e.Item)
		d.Score = append(d.Score, e.Score)
		d.Line = append(d.Line, int32(line))
		d.skillPool = append(d.skillPool, e.Skills...)
		d.skillOff = append(d.skillOff, int32(len(d.skillPool)))
		if _, ok := cols["timestamp"]; ok {
			ts = append(ts, t)
		}
	}
	for _, t := range ts {
		if t != 0 {
			d.Timestamps = true
			break
		}
	}
	if d.Timestamps {
		d.sortByTime(ts)
	}
	return d, nil
}

func sniffDelimiter(head []byte) (rune, error) {
	best, n := rune(0), 0
	for _, c := range []rune{'\t', ',', ';'} {
		if k := bytes.Count(head, []byte(string(c))); k > n {
			best, n = c, k
		}
	}
	if n == 0 {
		return 0, errors.New("header: want columns separated by tab, comma or semicolon")
	}
	return best, nil
}

func mapColumns(header []string) (map[string]int, error) {
	cols := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		for col, aliases := range columnAliases {
			for _, a := range aliases {
				if h == a {
					if j, dup := cols[col]; dup {
						return nil, fmt.Errorf("header: columns %q and %q both name the %s", header[j], header[i], col)
					}
					cols[col] = i
				}
			}
		}
	}
	for _, need := range []string{"learner", "item", "skill", "correct"} {
		if _, ok := cols[need]; !ok {
			return nil, fmt.Errorf("header: missing the %s column (accepted names: %s)", need, strings.Join(columnAliases[need], ", "))
		}
	}
	return cols, nil
}

func splitSkills(dst []string, cell, seps string) []string {
	for {
		i := strings.IndexAny(cell, seps)
		if i < 0 {
			break
		}
		if s := strings.TrimSpace(cell[:i]); s != "" {
			dst = append(dst, s)
		}
		cell = cell[i+1:]
	}
	if s := strings.TrimSpace(cell); s != "" {
		dst = append(dst, s)
	}
	return dst
}

func parseTimestamp(s string) (float64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, err
	}
	return float64(t.UnixNano()) / 1e9, nil
}

// sortByTime reorders the attempts stably by timestamp.
func (d *Dataset) sortByTime(ts []float64) {
	n := d.Len()
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	sort.SliceStable(perm, func(a, b int) bool { return ts[perm[a]] < ts[perm[b]] })
	nd := Dataset{Skipped: d.Skipped, Defaulted: d.Defaulted, Timestamps: true, skillOff: []int32{0}}
	for _, i := range perm {
		nd.Learner = append(nd.Learner, d.Learner[i])
		nd.Item = append(nd.Item, d.Item[i])
		nd.Score = append(nd.Score, d.Score[i])
		nd.Line = append(nd.Line, d.Line[i])
		nd.skillPool = append(nd.skillPool, d.skillPool[d.skillOff[i]:d.skillOff[i+1]]...)
		nd.skillOff = append(nd.skillOff, int32(len(nd.skillPool)))
	}
	*d = nd
}
