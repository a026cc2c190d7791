package privacy

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// A minimal JSON scanner: sealing finds the spans of a few known members
// (actor, object, context.instructor…) and splices sealed values in, so
// that the rest of a statement keeps its bytes and nothing pays for a
// full decode and re-encode on the write path. The scanner does not
// validate what it skips; the data it reads was produced by this install
// and is decoded by its consumers after opening.

var errSyntax = errors.New("malformed JSON")

// ws returns the index of the first non-space byte at or after i.
func ws(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just after the string starting at b[i] ('"').
func skipString(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, errSyntax
	}
	for i++; i < len(b); {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return 0, errSyntax
		}
		i += q
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		n := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i, nil
		}
	}
	return 0, errSyntax
}

// skipValue returns the index just after the value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				e, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
		}
		return 0, errSyntax
	}
	start := i
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if i == start {
				return 0, errSyntax
			}
			return i, nil
		}
		i++
	}
	if i == start {
		return 0, errSyntax
	}
	return i, nil
}

// member is one member of a JSON object: the span of its key (with the
// quotes) and of its value.
type member struct {
	ks, ke, vs, ve int
}

// name returns the member's key, unescaped.
func (m member) name(b []byte) string {
	raw := b[m.ks+1 : m.ke-1]
	for _, c := range raw {
		if c == '\\' {
			var s string
			if json.Unmarshal(b[m.ks:m.ke], &s) != nil {
				return ""
			}
			return s
		}
	}
	return string(raw)
}

// is reports whether the member's key is k, without allocating for keys
// without escapes.
func (m member) is(b []byte, k string) bool {
	raw := b[m.ks+1 : m.ke-1]
	if len(raw) == len(k) && string(raw) == k {
		return true
	}
	if len(raw) > len(k) && strings.IndexByte(string(raw), '\\') >= 0 {
		return m.name(b) == k
	}
	return false
}

// members appends the members of the object spanning b[s:e] to dst.
func members(dst []member, b []byte, s, e int) ([]member, error) {
	i := ws(b, s)
	if i >= e || b[i] != '{' {
		return dst, errSyntax
	}
	i = ws(b, i+1)
	if i < e && b[i] == '}' {
		return dst, nil
	}
	for {
		var m member
		var err error
		m.ks = i
		if m.ke, err = skipString(b, i); err != nil || m.ke > e {
			return dst, errSyntax
		}
		i = ws(b, m.ke)
		if i >= e || b[i] != ':' {
			return dst, errSyntax
		}
		m.vs = ws(b, i+1)
		if m.ve, err = skipValue(b, m.vs); err != nil || m.ve > e {
			return dst, errSyntax
		}
		dst = append(dst, m)
		i = ws(b, m.ve)
		if i >= e {
			return dst, errSyntax
		}
		switch b[i] {
		case ',':
			i = ws(b, i+1)
		case '}':
			return dst, nil
		default:
			return dst, errSyntax
		}
	}
}

// elements appends the spans (start, end pairs) of the elements of the
// array spanning b[s:e] to dst.
func elements(dst [][2]int, b []byte, s, e int) ([][2]int, error) {
	i := ws(b, s)
	if i >= e || b[i] != '[' {
		return dst, errSyntax
	}
	i = ws(b, i+1)
	if i < e && b[i] == ']' {
		return dst, nil
	}
	for {
		ve, err := skipValue(b, i)
		if err != nil || ve > e {
			return dst, errSyntax
		}
		dst = append(dst, [2]int{i, ve})
		i = ws(b, ve)
		if i >= e {
			return dst, errSyntax
		}
		switch b[i] {
		case ',':
			i = ws(b, i+1)
		case ']':
			return dst, nil
		default:
			return dst, errSyntax
		}
	}
}

// stringValue decodes the JSON string spanning b[s:e].
func stringValue(b []byte, s, e int) (string, error) {
	raw, err := stringBytes(b, s, e)
	return string(raw), err
}

// stringBytes decodes the JSON string spanning b[s:e]: a slice of b when
// it has no escapes (a sealed value never has), a copy otherwise.
func stringBytes(b []byte, s, e int) ([]byte, error) {
	if e-s < 2 || b[s] != '"' || b[e-1] != '"' {
		return nil, errSyntax
	}
	raw := b[s+1 : e-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw, nil
	}
	var out string
	if err := json.Unmarshal(b[s:e], &out); err != nil {
		return nil, errSyntax
	}
	return []byte(out), nil
}

// find returns the member named k of ms.
func find(ms []member, b []byte, k string) (member, bool) {
	for _, m := range ms {
		if m.is(b, k) {
			return m, true
		}
	}
	return member{}, false
}
