package xapi

import (
	"fmt"
	"strconv"
)

// ValidationError says why input was rejected: Field is a JSON path into
// the request (e.g. "statements[2].actor.mbox", or "agent" for the agent
// query parameter) and Rule is a sentence naming the rule that was broken.
// Every parse and validation error of this package is a *ValidationError, so
// the HTTP layer can answer 400 with both parts without parsing messages.
type ValidationError struct {
	Field string
	Rule  string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Rule
	}
	return e.Field + ": " + e.Rule
}

func invalid(field, format string, args ...any) *ValidationError {
	if len(args) > 0 {
		format = fmt.Sprintf(format, args...)
	}
	return &ValidationError{Field: field, Rule: format}
}

// Paths are built the way a JavaScript programmer would address the value:
// dots for properties, [i] for array items and ["key"] for map keys that are
// IRIs or language tags (which contain dots themselves).

func joinKey(path, key string) string {
	if key == "" {
		return joinMapKey(path, key) // a property named "" still needs a visible path
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func joinMapKey(path, key string) string {
	return path + "[" + strconv.Quote(key) + "]"
}

// fieldName names the value at path in an error; the empty path is the
// statement being parsed.
func fieldName(path string) string {
	if path == "" {
		return "statement"
	}
	return path
}

// at names a value for an error message without building the name until
// an error needs it: almost every value is valid, and joining paths for
// each was most of what the parser allocated.
type at struct {
	base string
	key  string
	idx  int
	kind atKind
}

type atKind uint8

const (
	atPath     atKind = iota // base is the whole path
	atKey                    // joinKey(base, key)
	atIndex                  // joinIndex(base, idx)
	atMapKey                 // joinMapKey(base, key)
	atKeyIndex               // joinIndex(joinKey(base, key), idx)
)

func pathAt(path string) at { return at{base: path} }

func keyAt(path, key string) at { return at{base: path, key: key, kind: atKey} }

func indexAt(path string, i int) at { return at{base: path, idx: i, kind: atIndex} }

func mapKeyAt(path, key string) at { return at{base: path, key: key, kind: atMapKey} }

func (a at) String() string {
	switch a.kind {
	case atKey:
		return joinKey(a.base, a.key)
	case atIndex:
		return joinIndex(a.base, a.idx)
	case atMapKey:
		return joinMapKey(a.base, a.key)
	case atKeyIndex:
		return joinIndex(joinKey(a.base, a.key), a.idx)
	}
	return a.base
}

// index names item i of the array at a.
func (a at) index(i int) at {
	switch a.kind {
	case atPath:
		return indexAt(a.base, i)
	case atKey:
		return at{base: a.base, key: a.key, idx: i, kind: atKeyIndex}
	}
	return indexAt(a.String(), i)
}
