package oracle

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
