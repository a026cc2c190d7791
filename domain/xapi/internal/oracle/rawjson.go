package oracle

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The parser walks the request one level at a time: each JSON object is
// decoded into a map of raw values, its keys are checked against the
// properties the specification allows, and each value is then decoded with
// the JSON type the property requires. This is what lets every error name
// the exact path and rule, reject unknown (or wrongly cased) properties and
// nulls, and keep extension values byte for byte.

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
func expectKind(raw json.RawMessage, field string, want jsonKind) error {
	got := kindOf(raw)
	if got == want {
		return nil
	}
	if got == kindNull {
		return invalid(field, "must not be null")
	}
	rule := "must be " + want.String() + ", not " + got.String()
	if got == kindString && (want == kindNumber || want == kindBool) {
		rule += " (even one that spells out " + want.String() + ")"
	}
	return invalid(field, rule)
}

// readJSON checks that data is one well-formed UTF-8 JSON value.
func readJSON(data []byte, root string) (json.RawMessage, error) {
	// Some Windows clients prefix a byte order mark; it carries no data.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, invalid(root, "the body must be UTF-8 encoded JSON")
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

// fields is one decoded JSON object together with its path.
type fields struct {
	path string
	m    map[string]json.RawMessage
}

func decodeObject(raw json.RawMessage, path string) (fields, error) {
	if err := expectKind(raw, fieldName(path), kindObject); err != nil {
		return fields{}, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return fields{}, invalid(fieldName(path), "must be an object")
	}
	return fields{path: path, m: m}, nil
}

// get returns the raw value of key, the path of that value and whether the
// key is present at all.
func (f fields) get(key string) (json.RawMessage, string, bool) {
	raw, ok := f.m[key]
	return raw, joinKey(f.path, key), ok
}

func (f fields) has(key string) bool {
	_, ok := f.m[key]
	return ok
}

// only rejects the first property (in sorted order, so errors are
// deterministic) that is not in allowed. A property that differs from an
// allowed one only in case gets a hint, since that is the usual mistake.
func (f fields) only(what string, allowed ...string) error {
	for _, k := range sortedKeys(f.m) {
		known := false
		for _, a := range allowed {
			if a == k {
				known = true
				break
			}
		}
		if known {
			continue
		}
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

func decodeArray(raw json.RawMessage, field string) ([]json.RawMessage, error) {
	if err := expectKind(raw, field, kindArray); err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, invalid(field, "must be an array")
	}
	return items, nil
}

func decodeString(raw json.RawMessage, field string) (string, error) {
	if err := expectKind(raw, field, kindString); err != nil {
		return "", err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid(field, "must be a string")
	}
	return s, nil
}

func decodeBool(raw json.RawMessage, field string) (bool, error) {
	if err := expectKind(raw, field, kindBool); err != nil {
		return false, err
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, invalid(field, "must be a boolean")
	}
	return b, nil
}

func decodeNumber(raw json.RawMessage, field string) (float64, error) {
	if err := expectKind(raw, field, kindNumber); err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, invalid(field, "must be a number that fits a 64-bit float")
	}
	return v, nil
}

// decodeInteger accepts any JSON number with an integral value (27 and
// 27.0 alike), because JSON itself does not tell integers apart.
func decodeInteger(raw json.RawMessage, field string) (int64, error) {
	if err := expectKind(raw, field, kindNumber); err != nil {
		return 0, err
	}
	text := string(bytes.TrimSpace(raw))
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, nil
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || v != math.Trunc(v) || math.Abs(v) > 1<<53 {
		return 0, invalid(field, "must be an integer")
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
