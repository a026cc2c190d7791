package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/learnstream/learnstream/domain/jsonenc"
)

// AppendJSON appends d's JSON: json.Marshal's encoding of it (the same
// fields in the same order), strings without its HTML escaping. The
// recommender encodes a list for most statements, and json.Marshal's
// reflection over them was 1% of the server's CPU; what this writes is
// the shape decodeRecommendationsUpdated reads without reflection. A
// score that is NaN or infinite is an error, as it is for json.Marshal.
func (d *RecommendationsUpdated) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"learner":`...)
	b = jsonenc.AppendString(b, d.Learner)
	b = append(b, `,"items":`...)
	if d.Items == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, it := range d.Items {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"item":`...)
			b = jsonenc.AppendString(b, it.Item)
			b = append(b, `,"score":`...)
			var ok bool
			if b, ok = jsonenc.AppendFloat(b, it.Score); !ok {
				return b, fmt.Errorf("items[%d].score: %v is not a JSON number", i, it.Score)
			}
			b = append(b, `,"rank":`...)
			b = strconv.AppendInt(b, int64(it.Rank), 10)
			b = append(b, `,"reasons":`...)
			b = jsonenc.AppendStrings(b, it.Reasons)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"model_version":`...)
	b = jsonenc.AppendString(b, d.ModelVersion)
	b = append(b, `,"based_on":`...)
	b = jsonenc.AppendString(b, d.BasedOn)
	if d.Role != "" {
		b = append(b, `,"role":`...)
		b = jsonenc.AppendString(b, d.Role)
	}
	b = append(b, `,"cold_start":`...)
	b = strconv.AppendBool(b, d.ColdStart)
	return append(b, '}'), nil
}

// decodeRecommendationsUpdated decodes a RecommendationsUpdated's data
// into out as json.Unmarshal does. The read model decodes one for every
// list published (0.9 per statement under load), and json.Unmarshal's
// reflection over them was 3% of the server's CPU at 2,000 statements/s.
// Data in the exact shape json.Marshal writes for the type (and
// AppendJSON, what the recommender publishes) is read by a scanner of
// that shape alone; anything else (another field order, escapes,
// whitespace, unknown fields, wrong types) goes to json.Unmarshal, which
// decides.
//
// The strings it reads are cut from one copy of the data, and the items'
// reasons from one slice: a list of ten held about thirty strings and
// twenty slices, the most allocations of any consumer's decoding. The
// decoded list lives until its transaction stores it packed, so the copy
// is held no longer than the strings were.
func decodeRecommendationsUpdated(b []byte, out *RecommendationsUpdated) error {
	s := shapeScanner{b: b, ok: true, src: string(b)}
	var r RecommendationsUpdated
	s.lit(`{"learner":`)
	r.Learner = s.str()
	s.lit(`,"items":`)
	if s.null() {
		r.Items = nil
	} else {
		// Item objects are counted by their opening: a string holds no
		// quote unescaped, so none can hold the text.
		n := bytes.Count(b, []byte(`{"item":`))
		r.Items = make([]Recommendation, 0, n)
		reasons := make([]string, 0, 4*n+4)
		s.lit("[")
		for s.ok && !s.next(']') {
			if len(r.Items) > 0 {
				s.lit(",")
			}
			var it Recommendation
			s.lit(`{"item":`)
			it.Item = s.str()
			s.lit(`,"score":`)
			it.Score = s.float()
			s.lit(`,"rank":`)
			it.Rank = s.int()
			s.lit(`,"reasons":`)
			it.Reasons = s.strsIn(&reasons)
			s.lit("}")
			r.Items = append(r.Items, it)
		}
	}
	s.lit(`,"model_version":`)
	r.ModelVersion = s.str()
	s.lit(`,"based_on":`)
	r.BasedOn = s.str()
	if s.has(`,"role":`) {
		r.Role = s.str()
	}
	s.lit(`,"cold_start":`)
	r.ColdStart = s.bool()
	s.lit("}")
	if s.ok && len(s.b) == 0 {
		*out = r
		return nil
	}
	return json.Unmarshal(b, out)
}

// shapeScanner reads JSON of one exact shape: each step consumes what it
// expects or clears ok, after which every step does nothing. It accepts
// only what json.Unmarshal reads the same way (no escapes in strings,
// numbers of JSON's grammar that fit their type).
type shapeScanner struct {
	b  []byte
	ok bool
	// src, when set, is the whole input as a string (b is always its
	// end): str then cuts its strings from it instead of copying each.
	src string
}

// lit consumes l.
func (s *shapeScanner) lit(l string) {
	if !s.has(l) {
		s.ok = false
	}
}

// has consumes l when the input starts with it.
func (s *shapeScanner) has(l string) bool {
	if s.ok && len(s.b) >= len(l) && string(s.b[:len(l)]) == l {
		s.b = s.b[len(l):]
		return true
	}
	return false
}

// next consumes c when it comes next.
func (s *shapeScanner) next(c byte) bool {
	if s.ok && len(s.b) > 0 && s.b[0] == c {
		s.b = s.b[1:]
		return true
	}
	return false
}

func (s *shapeScanner) null() bool { return s.has("null") }

// str reads a string without escapes, of valid UTF-8.
func (s *shapeScanner) str() string {
	v := s.rawStr()
	if s.src == "" || v == nil {
		return string(v)
	}
	end := len(s.src) - len(s.b) - 1 // before the closing quote
	return s.src[end-len(v) : end]
}

// rawStr reads what str reads, without copying it.
func (s *shapeScanner) rawStr() []byte {
	if !s.next('"') {
		s.ok = false
		return nil
	}
	ascii := true
	for i, c := range s.b {
		if c == '"' {
			v := s.b[:i]
			if ascii || utf8.Valid(v) {
				s.b = s.b[i+1:]
				return v
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	s.ok = false
	return nil
}

func (s *shapeScanner) bool() bool {
	if s.has("true") {
		return true
	}
	s.lit("false")
	return false
}

// time reads a time as time.Time's UnmarshalJSON does: RFC 3339, from a
// string (which it does not unescape either).
func (s *shapeScanner) time() time.Time {
	raw := s.rawStr()
	var t time.Time
	if s.ok && t.UnmarshalText(raw) != nil {
		s.ok = false
	}
	return t
}

// strsIn reads what strs reads into the end of *buf, and returns it
// capped there, so that the strings of several lists share one slice;
// *buf must not be nil (an empty list is not null).
func (s *shapeScanner) strsIn(buf *[]string) []string {
	if s.null() {
		return nil
	}
	at := len(*buf)
	s.lit("[")
	for s.ok && !s.next(']') {
		if len(*buf) > at {
			s.lit(",")
		}
		*buf = append(*buf, s.str())
	}
	return (*buf)[at:len(*buf):len(*buf)]
}

// strs reads null or an array of strings (empty, not nil, for []).
func (s *shapeScanner) strs() []string {
	out := []string{}
	return s.strsIn(&out)
}

// number reads a number of JSON's grammar; integer reports that it has
// no fraction or exponent. num is the input's bytes: its readers convert
// it where the conversion does not escape, which copies short numbers on
// the stack.
func (s *shapeScanner) number() (num []byte, integer bool) {
	if !s.ok {
		return nil, false
	}
	b, i := s.b, 0
	digits := func() bool {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if !digits() {
		s.ok = false
		return nil, false
	}
	integer = true
	if i < len(b) && b[i] == '.' {
		i++
		integer = false
		if !digits() {
			s.ok = false
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		integer = false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			s.ok = false
			return nil, false
		}
	}
	num, s.b = b[:i], b[i:]
	return num, integer
}

func (s *shapeScanner) float() float64 {
	num, _ := s.number()
	if !s.ok {
		return 0
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		s.ok = false
	}
	return f
}

func (s *shapeScanner) int() int {
	num, integer := s.number()
	if !s.ok || !integer {
		s.ok = false
		return 0
	}
	n, err := strconv.Atoi(string(num))
	if err != nil {
		s.ok = false
	}
	return n
}
