package xapi

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// baseStatement is a small valid statement that the tables below change one
// property at a time.
const baseStatement = `{
	"id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
	"actor": {"objectType": "Agent", "name": "Ana Lima", "mbox": "mailto:ana@example.com"},
	"verb": {"id": "http://adlnet.gov/expapi/verbs/attempted", "display": {"en-US": "attempted"}},
	"object": {"objectType": "Activity", "id": "http://example.com/activities/algebra-1",
		"definition": {"name": {"en-US": "Algebra 1"}}}
}`

// edit returns base with changes applied. changes come in pairs: a path
// ("actor.mbox", "context.contextActivities.parent[0].id") and a JSON value
// to put there, or "-" to delete the property. Missing objects on the way
// are created.
func edit(t testing.TB, base string, changes ...string) string {
	t.Helper()
	if len(changes)%2 != 0 {
		t.Fatalf("edit: odd number of arguments")
	}
	var root any
	if err := json.Unmarshal([]byte(base), &root); err != nil {
		t.Fatalf("edit: base: %v", err)
	}
	for i := 0; i < len(changes); i += 2 {
		path, value := changes[i], changes[i+1]
		var v any
		if value != "-" {
			if err := json.Unmarshal([]byte(value), &v); err != nil {
				t.Fatalf("edit: value %s: %v", value, err)
			}
		}
		root = setPath(t, root, splitPath(path), v, value == "-")
	}
	out, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// splitPath turns "a.b[2].c" into ["a", "b", 2, "c"].
func splitPath(path string) []any {
	var parts []any
	for _, seg := range strings.Split(path, ".") {
		name, rest, _ := strings.Cut(seg, "[")
		if name != "" {
			parts = append(parts, name)
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			n, _ := strconv.Atoi(idx)
			parts = append(parts, n)
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return parts
}

func setPath(t testing.TB, node any, path []any, v any, del bool) any {
	t.Helper()
	switch key := path[0].(type) {
	case string:
		m, ok := node.(map[string]any)
		if !ok {
			m = map[string]any{}
		}
		if len(path) == 1 {
			if del {
				delete(m, key)
			} else {
				m[key] = v
			}
			return m
		}
		m[key] = setPath(t, m[key], path[1:], v, del)
		return m
	case int:
		list, ok := node.([]any)
		if !ok || key >= len(list) {
			t.Fatalf("edit: no array item %d", key)
		}
		if len(path) == 1 {
			if del {
				return append(list[:key], list[key+1:]...)
			}
			list[key] = v
			return list
		}
		list[key] = setPath(t, list[key], path[1:], v, del)
		return list
	}
	panic("unreachable")
}

// checkInvalid asserts that err is a *ValidationError for field whose rule
// mentions rule.
func checkInvalid(t *testing.T, err error, field, rule string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want error at %q (%s)", field, rule)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is %T, want *ValidationError", err, err)
	}
	if ve.Field != field {
		t.Errorf("Field = %q, want %q (rule: %s)", ve.Field, field, ve.Rule)
	}
	if ve.Rule == "" || !strings.Contains(ve.Rule, rule) {
		t.Errorf("Rule = %q, want it to mention %q", ve.Rule, rule)
	}
	if !strings.Contains(err.Error(), ve.Field) {
		t.Errorf("Error() = %q does not name the field", err.Error())
	}
}

func mustParse(t testing.TB, body string) *Statement {
	t.Helper()
	s, err := ParseStatement([]byte(body))
	if err != nil {
		t.Fatalf("ParseStatement: %v\nbody: %s", err, body)
	}
	return s
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
