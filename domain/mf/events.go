package mf

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Event is one learner-item interaction of an evaluation stream.
type Event struct {
	User, Item string
	// Time orders the stream (seconds, or any increasing number); 0 when the
	// source has no time.
	Time float64
	// Weight is the confidence (> 0).
	Weight float64
	// Line is the source line (1-based).
	Line int
}

// RowError is a bad row of an event source, located by line and column.
type RowError struct {
	Line   int
	Column string // column name, or the JSON field
	Msg    string
}

func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d, column %s: %s", e.Line, e.Column, e.Msg)
}

// ReadOptions tune ReadEvents.
type ReadOptions struct {
	// Weights give the confidence of xAPI statements (DefaultWeights when
	// Verbs is nil).
	Weights Weights
	// MaxEvents stops reading after that many events (0: no limit).
	MaxEvents int
	// ItemColumn, when set, names the header column (case-insensitive)
	// that holds the item of a CSV/TSV file, instead of the item aliases:
	// "skill_id" turns ASSISTments' learner -> problem rows into a learner
	// -> skill stream.
	ItemColumn string
}

// Column names understood in a header (case-insensitive).
var columnAliases = map[string]string{
	"learner": "learner", "learner_id": "learner", "user": "learner", "user_id": "learner", "userid": "learner",
	"student": "learner", "student_id": "learner", "id_student": "learner", "actor": "learner",
	"item": "item", "item_id": "item", "itemid": "item", "course": "item", "course_id": "item",
	"activity": "item", "activity_id": "item", "object": "item", "id_assessment": "item",
	"timestamp": "timestamp", "time": "timestamp", "ts": "timestamp", "date": "timestamp", "datetime": "timestamp",
	"weight": "weight", "confidence": "weight",
	"label": "label",
}

// ReadEvents reads an interaction stream. The format is detected from the
// first non-blank line:
//
//   - a line starting with '{': NDJSON, one xAPI statement per line. The
//     learner is the actor's inverse functional identifier (mbox,
//     mbox_sha1sum, openid or account homePage#name), the item the object's
//     id, the confidence comes from the verb and result.success through
//     Weights, the time from timestamp (else stored). Statements whose
//     object is not an activity (StatementRef, Agent...) or whose
//     confidence is 0 (voided, terminated...) are skipped.
//   - a line containing a comma: CSV. If the line names a known column it is
//     the header and must name a learner column (learner, user, user_id,
//     student, id_student, actor...) and an item column (item, item_id,
//     course, activity, object, id_assessment...); optional columns are
//     timestamp (time, ts, date: a number or RFC 3339), weight (confidence:
//     a number >= 0; 0 skips the row) and label (0 or 1: rows with label 0
//     are sampled negatives and are skipped). Other columns are ignored.
//   - otherwise fields are separated by runs of spaces or tabs, with the
//     same header rule.
//
// A file whose first line names no known column has no header: its rows
// have 2 columns (learner item) or 3 (learner item label), as in
// MOOCCube/KGAN's ratings_final.txt ("user item label", tab-separated).
//
// Rows are returned in file order, stably sorted by time when the source
// has times. The first bad row stops reading with a *RowError.
func ReadEvents(r io.Reader, opts ReadOptions) ([]Event, error) {
	if opts.Weights.Verbs == nil {
		opts.Weights = DefaultWeights()
	}
	br := bufio.NewReaderSize(r, 1<<16)
	if b, err := br.Peek(3); err == nil && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		br.Discard(3)
	}
	// Find the first non-blank byte without consuming the line.
	skipped := 0
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if c == '\n' {
			skipped++
			continue
		}
		if c == ' ' || c == '\t' || c == '\r' {
			continue
		}
		br.UnreadByte()
		var evs []Event
		if c == '{' {
			if opts.ItemColumn != "" {
				return nil, &RowError{Line: skipped + 1, Msg: fmt.Sprintf("item column %q: xAPI statements have no columns (the item is the object id)", opts.ItemColumn)}
			}
			evs, err = readXAPI(br, skipped, opts)
		} else {
			evs, err = readTable(br, skipped, opts)
		}
		if err != nil {
			return nil, err
		}
		if len(evs) > 0 && slices.ContainsFunc(evs, func(e Event) bool { return e.Time != 0 }) {
			slices.SortStableFunc(evs, func(a, b Event) int {
				switch {
				case a.Time < b.Time:
					return -1
				case a.Time > b.Time:
					return 1
				}
				return 0
			})
		}
		return evs, nil
	}
}

// lineSplitter yields the fields of each line with its line number.
type lineSplitter interface {
	next() ([]string, int, error) // io.EOF at the end
}

type csvSplitter struct{ r *csv.Reader }

func (s csvSplitter) next() ([]string, int, error) {
	rec, err := s.r.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, 0, &RowError{Line: pe.Line, Msg: "CSV: " + pe.Err.Error()}
		}
		return nil, 0, err
	}
	line, _ := s.r.FieldPos(0)
	return rec, line, nil
}

type spaceSplitter struct {
	sc     *bufio.Scanner
	line   int
	fields []string
}

func (s *spaceSplitter) next() ([]string, int, error) {
	for s.sc.Scan() {
		s.line++
		text := s.sc.Text()
		s.fields = s.fields[:0]
		for f := range strings.FieldsSeq(text) {
			s.fields = append(s.fields, f)
		}
		if len(s.fields) == 0 {
			continue
		}
		return s.fields, s.line, nil
	}
	if err := s.sc.Err(); err != nil {
		return nil, s.line, err
	}
	return nil, s.line, io.EOF
}

func readTable(br *bufio.Reader, skipped int, opts ReadOptions) ([]Event, error) {
	first, err := br.Peek(br.Size())
	if len(first) == 0 && err != nil {
		return nil, err
	}
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	var sp lineSplitter
	if bytes.IndexByte(first, ',') >= 0 {
		cr := csv.NewReader(br)
		cr.ReuseRecord = true
		cr.FieldsPerRecord = -1
		sp = offsetSplitter{csvSplitter{cr}, skipped}
	} else {
		sc := bufio.NewScanner(br)
		sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
		sp = offsetSplitter{&spaceSplitter{sc: sc}, skipped}
	}
	rec, line, err := sp.next()
	if err != nil {
		return nil, err
	}
	cols := map[string]int{}
	names := make([]string, len(rec))
	header := false
	for i, f := range rec {
		name := strings.ToLower(strings.TrimSpace(f))
		names[i] = name
		if canon, ok := columnAliases[name]; ok {
			header = true
			if _, dup := cols[canon]; !dup {
				cols[canon] = i
			}
		}
	}
	width := len(rec)
	var evs []Event
	if want := strings.ToLower(strings.TrimSpace(opts.ItemColumn)); want != "" {
		i := slices.Index(names, want)
		if !header || i < 0 {
			return nil, &RowError{Line: line, Msg: fmt.Sprintf("item column %q: the header %q has no such column", opts.ItemColumn, strings.Join(rec, ","))}
		}
		cols["item"] = i
	}
	if header {
		for _, need := range []string{"learner", "item"} {
			if _, ok := cols[need]; !ok {
				return nil, &RowError{Line: line, Msg: fmt.Sprintf("header %q names no %s column (want one of %s)", strings.Join(rec, ","), need, aliasList(need))}
			}
		}
	} else {
		names = []string{"learner", "item", "label"}[:min(width, 3)]
		switch width {
		case 2:
			cols = map[string]int{"learner": 0, "item": 1}
		case 3:
			cols = map[string]int{"learner": 0, "item": 1, "label": 2}
		default:
			return nil, &RowError{Line: line, Msg: fmt.Sprintf("no header, and %d columns: a file without a header has 2 columns (learner item) or 3 (learner item label)", width)}
		}
	}
	colName := func(i int) string {
		if names[i] != "" {
			return fmt.Sprintf("%d (%s)", i+1, names[i])
		}
		return strconv.Itoa(i + 1)
	}
	hasTime := false
	_, hasTime = cols["timestamp"]
	parseRow := func(rec []string, line int) (Event, bool, error) {
		if len(rec) != width {
			return Event{}, false, &RowError{Line: line, Msg: fmt.Sprintf("%d columns, want %d", len(rec), width)}
		}
		ev := Event{Line: line, Weight: 1}
		ev.User = strings.TrimSpace(rec[cols["learner"]])
		if ev.User == "" {
			return ev, false, &RowError{Line: line, Column: colName(cols["learner"]), Msg: "empty learner"}
		}
		ev.Item = strings.TrimSpace(rec[cols["item"]])
		if ev.Item == "" {
			return ev, false, &RowError{Line: line, Column: colName(cols["item"]), Msg: "empty item"}
		}
		if i, ok := cols["label"]; ok {
			switch v := strings.TrimSpace(rec[i]); strings.ToLower(v) {
			case "1", "true":
			case "0", "false":
				return ev, false, nil
			default:
				return ev, false, &RowError{Line: line, Column: colName(i), Msg: fmt.Sprintf("label %q is not 0 or 1", v)}
			}
		}
		if i, ok := cols["weight"]; ok {
			v := strings.TrimSpace(rec[i])
			w, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
				return ev, false, &RowError{Line: line, Column: colName(i), Msg: fmt.Sprintf("weight %q is not a finite number >= 0", v)}
			}
			if w == 0 {
				return ev, false, nil
			}
			ev.Weight = w
		}
		if hasTime {
			i := cols["timestamp"]
			t, err := parseTime(strings.TrimSpace(rec[i]))
			if err != nil {
				return ev, false, &RowError{Line: line, Column: colName(i), Msg: err.Error()}
			}
			ev.Time = t
		}
		return ev, true, nil
	}
	if !header {
		ev, ok, err := parseRow(rec, line)
		if err != nil {
			return nil, err
		}
		if ok {
			evs = append(evs, ev)
		}
	}
	for opts.MaxEvents == 0 || len(evs) < opts.MaxEvents {
		rec, line, err := sp.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		ev, ok, err := parseRow(rec, line)
		if err != nil {
			return nil, err
		}
		if ok {
			evs = append(evs, ev)
		}
	}
	return evs, nil
}

type offsetSplitter struct {
	s   lineSplitter
	off int
}

func (o offsetSplitter) next() ([]string, int, error) {
	rec, line, err := o.s.next()
	var re *RowError
	if errors.As(err, &re) {
		re.Line += o.off
	}
	return rec, line + o.off, err
}

func aliasList(canon string) string {
	var out []string
	for a, c := range columnAliases {
		if c == canon {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// parseTime reads a number (seconds or any increasing unit) or an RFC 3339
// time (as Unix seconds).
func parseTime(v string) (float64, error) {
	if v == "" {
		return 0, errors.New("empty timestamp")
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return f, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, fmt.Errorf("timestamp %q is neither a number nor an RFC 3339 time", v)
	}
	return float64(t.UnixNano()) / 1e9, nil
}

type xapiStatement struct {
	Actor *struct {
		ObjectType  string `json:"objectType"`
		Mbox        string `json:"mbox"`
		MboxSha1sum string `json:"mbox_sha1sum"`
		OpenID      string `json:"openid"`
		Account     *struct{ HomePage, Name string }
	} `json:"actor"`
	Verb *struct {
		ID string `json:"id"`
	} `json:"verb"`
	Object *struct {
		ObjectType string `json:"objectType"`
		ID         string `json:"id"`
	} `json:"object"`
	Result *struct {
		Success *bool `json:"success"`
	} `json:"result"`
	Timestamp string `json:"timestamp"`
	Stored    string `json:"stored"`
}

func readXAPI(br *bufio.Reader, skipped int, opts ReadOptions) ([]Event, error) {
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 1<<16), 4<<20)
	line := skipped
	var evs []Event
	for sc.Scan() && (opts.MaxEvents == 0 || len(evs) < opts.MaxEvents) {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var st xapiStatement
		if err := json.Unmarshal(text, &st); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, &RowError{Line: line, Column: te.Field, Msg: fmt.Sprintf("want %s, got JSON %s", te.Type, te.Value)}
			}
			return nil, &RowError{Line: line, Msg: "not a JSON statement: " + err.Error()}
		}
		if st.Verb == nil || st.Verb.ID == "" {
			return nil, &RowError{Line: line, Column: "verb.id", Msg: "missing"}
		}
		var success *bool
		if st.Result != nil {
			success = st.Result.Success
		}
		c := opts.Weights.Confidence(st.Verb.ID, success)
		if c <= 0 {
			continue
		}
		if st.Object == nil {
			return nil, &RowError{Line: line, Column: "object", Msg: "missing"}
		}
		if st.Object.ObjectType != "" && st.Object.ObjectType != "Activity" {
			continue
		}
		if st.Object.ID == "" {
			return nil, &RowError{Line: line, Column: "object.id", Msg: "missing"}
		}
		if st.Actor == nil {
			return nil, &RowError{Line: line, Column: "actor", Msg: "missing"}
		}
		if st.Actor.ObjectType == "Group" {
			return nil, &RowError{Line: line, Column: "actor.objectType", Msg: "a Group is not a learner"}
		}
		var user string
		switch a := st.Actor; {
		case a.Mbox != "":
			user = a.Mbox
		case a.MboxSha1sum != "":
			user = "sha1:" + a.MboxSha1sum
		case a.OpenID != "":
			user = a.OpenID
		case a.Account != nil && a.Account.Name != "":
			user = a.Account.HomePage + "#" + a.Account.Name
		default:
			return nil, &RowError{Line: line, Column: "actor", Msg: "no mbox, mbox_sha1sum, openid or account"}
		}
		ev := Event{User: user, Item: st.Object.ID, Weight: c, Line: line}
		ts := st.Timestamp
		field := "timestamp"
		if ts == "" {
			ts, field = st.Stored, "stored"
		}
		if ts != "" {
			t, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil {
				return nil, &RowError{Line: line, Column: field, Msg: fmt.Sprintf("%q is not an RFC 3339 time", ts)}
			}
			ev.Time = float64(t.UnixNano()) / 1e9
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return evs, nil
}
