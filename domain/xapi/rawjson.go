package xapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The parser walks the request one level at a time: the body is checked
// once to be JSON, then each object is split into its properties (slices
// of the body, found by a walk that need not check syntax again), its keys
// are checked against the properties the specification allows, and each
// value is then decoded with the JSON type the property requires. This is
// what lets every error name the exact path and rule, reject unknown (or
// wrongly cased) properties and nulls, and keep extension values byte for
// byte. Until 2026-12 each level was decoded into a map with encoding/json,
// which read every byte once per level it was nested in; that parser is
// kept, unchanged, as the test oracle in internal/oracle.

type jsonKind int

const (
	kindInvalid jsonKind = iota
	kindNull
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

func (k jsonKind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "a boolean"
	case kindNumber:
		return "a number"
	case kindString:
		return "a string"
	case kindArray:
		return "an array"
	case kindObject:
		return "an object"
	}
	return "invalid JSON"
}

func kindOf(raw json.RawMessage) jsonKind {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return kindInvalid
	}
	switch raw[0] {
	case 'n':
		return kindNull
	case 't', 'f':
		return kindBool
	case '"':
		return kindString
	case '[':
		return kindArray
	case '{':
		return kindObject
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return kindNumber
	}
	return kindInvalid
}

// expectKind checks the JSON type of raw. Nulls get their own message
// because the specification forbids them everywhere outside extensions.
func expectKind(raw json.RawMessage, field at, want jsonKind) error {
	got := kindOf(raw)
	if got == want {
		return nil
	}
	if got == kindNull {
		return invalid(field.String(), "must not be null")
	}
	rule := "must be " + want.String() + ", not " + got.String()
	if got == kindString && (want == kindNumber || want == kindBool) {
		rule += " (even one that spells out " + want.String() + ")"
	}
	return invalid(field.String(), rule)
}

// readJSON checks that data is one well-formed UTF-8 JSON value and
// returns it without surrounding whitespace. The values the parser takes
// from it are slices of data, never copies: every string, number and
// extension the parser keeps is converted or compacted into memory of its
// own, so a caller may reuse data afterwards.
func readJSON(data []byte, root string) (json.RawMessage, error) {
	// Some Windows clients prefix a byte order mark; it carries no data.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, invalid(root, "the body must be UTF-8 encoded JSON")
	}
	// Checking only scans; decoding into a RawMessage would copy the body
	// as well. The decoder runs only to word the error.
	if validJSON(data) {
		return bytes.Trim(data, " \t\r\n"), nil
	}
	var raw json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, invalid(root, "is not valid JSON: %s (at byte %d)", se.Error(), se.Offset)
		}
		return nil, invalid(root, "is not valid JSON: %s", err.Error())
	}
	return raw, nil
}

// The functions below walk JSON that readJSON has already checked, so they
// only find where values begin and end and never meet a syntax error.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string whose opening quote
// is at b[i].
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// valueEnd returns the index just past the value that starts at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return i
}

// unquote returns the text of the JSON string s (with its quotes). A
// string without escapes is its bytes; the others go through
// encoding/json, whose handling of escapes and surrogates is the rule.
func unquote(s []byte) string {
	body := s[1 : len(s)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return internKey(body)
	}
	var out string
	if err := json.Unmarshal(s, &out); err != nil {
		return string(body) // unreachable for JSON that readJSON accepted
	}
	return out
}

// internKey returns b as a string, without allocating for the values that
// most statements carry: object types, versions, common language tags,
// interaction types and the verbs and categories of the ADL and cmi5
// vocabularies. Looking up a []byte key converted to string allocates
// nothing.
func internKey(b []byte) string {
	if v, ok := knownStrings[string(b)]; ok {
		return v
	}
	return string(b)
}

// knownStrings holds each well-known value once.
var knownStrings = map[string]string{}

func init() {
	known := []string{ObjectTypeActivity, ObjectTypeAgent, ObjectTypeGroup, ObjectTypeStatementRef, ObjectTypeSubStatement,
		"contextAgent", "contextGroup", "1.0.0", "1.0.3", "2.0.0", "en", "en-US", "en-GB", "und",
		InteractionTrueFalse, InteractionChoice, InteractionFillIn, InteractionLongFillIn, InteractionMatching,
		InteractionPerformance, InteractionSequencing, InteractionLikert, InteractionNumeric, InteractionOther,
		"http://adlnet.gov/expapi/activities/course", "http://adlnet.gov/expapi/activities/module",
		"http://adlnet.gov/expapi/activities/lesson", "http://adlnet.gov/expapi/activities/assessment",
		"http://adlnet.gov/expapi/activities/cmi.interaction", "http://adlnet.gov/expapi/activities/question",
		"http://adlnet.gov/expapi/activities/media", "http://adlnet.gov/expapi/activities/link",
		"https://w3id.org/xapi/cmi5/context/categories/cmi5", "https://w3id.org/xapi/cmi5/context/categories/moveon",
		"https://w3id.org/xapi/cmi5/context/extensions/sessionid", "https://w3id.org/xapi/cmi5/context/extensions/masteryscore",
		"https://w3id.org/xapi/cmi5/context/extensions/launchmode", "https://w3id.org/xapi/cmi5/context/extensions/launchurl",
		"https://w3id.org/xapi/cmi5/result/extensions/progress", "https://w3id.org/xapi/cmi5/result/extensions/reason",
		"https://w3id.org/xapi/cmi5/activitytype/course", "https://w3id.org/xapi/cmi5/activitytype/block",
		"https://w3id.org/xapi/cmi5/activities/au", "https://w3id.org/xapi/video",
	}
	for _, verb := range []string{"answered", "asked", "attempted", "attended", "commented", "completed", "exited",
		"experienced", "failed", "imported", "initialized", "interacted", "launched", "mastered", "passed",
		"preferred", "progressed", "registered", "responded", "resumed", "scored", "shared", "suspended",
		"terminated", "voided", "waived", "abandoned", "satisfied"} {
		known = append(known, "http://adlnet.gov/expapi/verbs/"+verb, "https://w3id.org/xapi/adl/verbs/"+verb)
	}
	for _, s := range known {
		knownStrings[s] = s
	}
}

// member is one property of a JSON object: its name, unescaped, and its
// raw value. Names are bytes so that looking one up allocates nothing.
type member struct {
	key []byte
	val json.RawMessage
}

// fields is one decoded JSON object together with its path. A name that
// occurs twice keeps its last value, as decoding into a map would.
type fields struct {
	path    string
	members []member
}

// manyMembers is the size from which duplicate names are found with a map
// rather than by comparing with every earlier name, so that an object with
// very many properties costs linear time.
const manyMembers = 32

func decodeObject(raw json.RawMessage, path string) (fields, error) {
	if err := expectKind(raw, pathAt(fieldName(path)), kindObject); err != nil {
		return fields{}, err
	}
	f := fields{path: path}
	var index map[string]int
	i := skipSpace(raw, skipSpace(raw, 0)+1)
	for i < len(raw) && raw[i] == '"' {
		kend := stringEnd(raw, i)
		name := raw[i+1 : kend-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			name = []byte(unquote(raw[i:kend]))
		}
		i = skipSpace(raw, skipSpace(raw, kend)+1) // past the colon
		vend := valueEnd(raw, i)
		val := raw[i:vend:vend]
		i = skipSpace(raw, vend)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
		dup := -1
		if index != nil {
			if j, ok := index[string(name)]; ok {
				dup = j
			}
		} else {
			for j := range f.members {
				if bytes.Equal(f.members[j].key, name) {
					dup = j
					break
				}
			}
		}
		if dup >= 0 {
			f.members[dup].val = val
			continue
		}
		if f.members == nil {
			f.members = make([]member, 0, 8)
		}
		f.members = append(f.members, member{key: name[:len(name):len(name)], val: val})
		switch {
		case index != nil:
			index[string(name)] = len(f.members) - 1
		case len(f.members) == manyMembers:
			index = make(map[string]int, 2*manyMembers)
			for j, m := range f.members {
				index[string(m.key)] = j
			}
		}
	}
	return f, nil
}

// get returns the raw value of key, the path of that value and whether the
// key is present at all.
func (f fields) get(key string) (json.RawMessage, at, bool) {
	for _, m := range f.members {
		if string(m.key) == key {
			return m.val, keyAt(f.path, key), true
		}
	}
	return nil, keyAt(f.path, key), false
}

func (f fields) has(key string) bool {
	for _, m := range f.members {
		if string(m.key) == key {
			return true
		}
	}
	return false
}

func (f fields) len() int { return len(f.members) }

// sorted returns the members ordered by name.
func (f fields) sorted() []member {
	out := slices.Clone(f.members)
	slices.SortFunc(out, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	return out
}

func isAllowed(allowed []string, key []byte) bool {
	for _, a := range allowed {
		if a == string(key) {
			return true
		}
	}
	return false
}

// only rejects the first property (in sorted order, so errors are
// deterministic) that is not in allowed. A property that differs from an
// allowed one only in case gets a hint, since that is the usual mistake.
func (f fields) only(what string, allowed ...string) error {
	unknown := false
	for _, m := range f.members {
		if !isAllowed(allowed, m.key) {
			unknown = true
			break
		}
	}
	if !unknown {
		return nil
	}
	for _, m := range f.sorted() {
		if isAllowed(allowed, m.key) {
			continue
		}
		k := string(m.key)
		rule := "is not a property of " + what
		for _, a := range allowed {
			if strings.EqualFold(a, k) {
				rule += " (property names are case-sensitive: did you mean \"" + a + "\"?)"
				break
			}
		}
		return invalid(joinKey(f.path, k), rule)
	}
	return nil
}

func decodeArray(raw json.RawMessage, field at) ([]json.RawMessage, error) {
	if err := expectKind(raw, field, kindArray); err != nil {
		return nil, err
	}
	items := []json.RawMessage{}
	i := skipSpace(raw, skipSpace(raw, 0)+1)
	for i < len(raw) && raw[i] != ']' {
		end := valueEnd(raw, i)
		items = append(items, raw[i:end:end])
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return items, nil
}

func decodeString(raw json.RawMessage, field at) (string, error) {
	if err := expectKind(raw, field, kindString); err != nil {
		return "", err
	}
	return unquote(bytes.TrimSpace(raw)), nil
}

func decodeBool(raw json.RawMessage, field at) (bool, error) {
	if err := expectKind(raw, field, kindBool); err != nil {
		return false, err
	}
	// The kind is checked and the JSON is valid: it is true or false.
	return bytes.TrimSpace(raw)[0] == 't', nil
}

func decodeNumber(raw json.RawMessage, field at) (float64, error) {
	if err := expectKind(raw, field, kindNumber); err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, invalid(field.String(), "must be a number that fits a 64-bit float")
	}
	return v, nil
}

// decodeInteger accepts any JSON number with an integral value (27 and
// 27.0 alike), because JSON itself does not tell integers apart.
func decodeInteger(raw json.RawMessage, field at) (int64, error) {
	if err := expectKind(raw, field, kindNumber); err != nil {
		return 0, err
	}
	text := string(bytes.TrimSpace(raw))
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, nil
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || v != math.Trunc(v) || math.Abs(v) > 1<<53 {
		return 0, invalid(field.String(), "must be an integer")
	}
	return int64(v), nil
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return append(json.RawMessage(nil), raw...)
	}
	return buf.Bytes()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
