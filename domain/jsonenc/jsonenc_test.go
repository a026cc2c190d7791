package jsonenc

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

// marshal is encoding/json's encoding of v without HTML escaping.
func marshal(t testing.TB, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and backslash \`, "tab\tnew\nline\rcr\bbs\fff",
		"\x00\x01\x1f\x7f", "<a href='x'>&amp;</a>", "é 日本 🎓",
		"line\u2028para\u2029", "bad \xff utf-8 \xc3", "\xed\xa0\x80 surrogate",
	} {
		if got, want := string(AppendString([]byte("x"), s)), "x"+marshal(t, s); got != want {
			t.Errorf("AppendString(%q) = %s, encoding/json writes %s", s, got, want)
		}
	}
}

func TestAppendStrings(t *testing.T) {
	for _, list := range [][]string{nil, {}, {""}, {"a", `"b"`, "<c>", "\xff"}} {
		if got, want := string(AppendStrings([]byte("x"), list)), "x"+marshal(t, list); got != want {
			t.Errorf("AppendStrings(%q) = %s, encoding/json writes %s", list, got, want)
		}
	}
}

func TestAppendFloat(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1.0 / 3, 123456789, 1e-6, 9.99e-7, 1e-7,
		-2.5e-8, 1e20, 1e21, 1.5e300, math.MaxFloat64, math.SmallestNonzeroFloat64, 0.912345} {
		got, ok := AppendFloat(nil, f)
		if want := marshal(t, f); !ok || string(got) != want {
			t.Errorf("AppendFloat(%v) = %s, %v; encoding/json writes %s", f, got, ok, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got, ok := AppendFloat([]byte("x"), f); ok || string(got) != "x" {
			t.Errorf("AppendFloat(%v) = %q, %v; want nothing appended and false", f, got, ok)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\u2028", "\xff", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(AppendString(nil, s)), marshal(t, s); got != want {
			t.Fatalf("AppendString(%q) = %s, encoding/json writes %s", s, got, want)
		}
	})
}

func FuzzAppendFloat(f *testing.F) {
	for _, v := range []float64{0, 1e-7, 1e21, -3.25} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		if got, _ := AppendFloat(nil, v); string(got) != marshal(t, v) {
			t.Fatalf("AppendFloat(%v) = %s, encoding/json writes %s", v, got, marshal(t, v))
		}
	})
}

// htmlEscapes is what HTMLEscapes answers, by its definition: whether
// json.HTMLEscape changes b.
func htmlEscapes(b []byte) bool {
	var buf bytes.Buffer
	json.HTMLEscape(&buf, b)
	return !bytes.Equal(buf.Bytes(), b)
}

func TestHTMLEscapes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{`{"a":"b"}`, false},
		{`{"a":"<b>"}`, true},
		{`{"a":"b>"}`, true},
		{`{"a":"b&c"}`, true},
		{"{\"a\":\"\u2028\"}", true},
		{"x\u2029", true},
		{"\u2027\u202a\u20ac", false}, // E2 80 A7, E2 80 AA, E2 82 AC
		{"\xe2\x80", false},           // cut short
		{"\xe2\xe2\x80\xa8", true},
		{`a "quoted" \ string`, false},
	} {
		if got := HTMLEscapes([]byte(tc.in)); got != tc.want || got != htmlEscapes([]byte(tc.in)) {
			t.Errorf("HTMLEscapes(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func FuzzHTMLEscapes(f *testing.F) {
	for _, s := range []string{"", "<", "\u2028", "\xe2\x80", "\xe2\xe2\x80\xa9", "abc"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := HTMLEscapes(b), htmlEscapes(b); got != want {
			t.Fatalf("HTMLEscapes(%q) = %v; json.HTMLEscape says %v", b, got, want)
		}
	})
}

// BenchmarkHTMLEscapes looks at a 1 KB statement with nothing to escape,
// beside bytes.ContainsAny, which answered before, as the baseline.
func BenchmarkHTMLEscapes(b *testing.B) {
	st := []byte(`{"id":"3f9a0c52-5f8e-4b9a-9a43-2f1d7c0e8b11","actor":{"objectType":"Agent","name":"Learner 1234","mbox":"mailto:learner1234@example.com"},` +
		`"verb":{"id":"http://adlnet.gov/expapi/verbs/completed","display":{"en-US":"completed"}},"object":{"objectType":"Activity",` +
		`"id":"https://example.com/activities/1234","definition":{"type":"http://adlnet.gov/expapi/activities/lesson","name":{"en-US":"Lesson 1234"},` +
		`"description":{"en-US":"A lesson of the load test catalogue, with a description of typical length."}}},"result":{"score":{"scaled":0.87,` +
		`"raw":87,"min":0,"max":100},"success":true,"completion":true,"duration":"PT431S"},"context":{"registration":"0b5c6f0e-2f8b-4f7e-9d5a-1c2b3a4d5e6f",` +
		`"platform":"learnstream bench","language":"en-US","contextActivities":{"parent":[{"objectType":"Activity","id":"https://example.com/courses/123"}],` +
		`"category":[{"objectType":"Activity","id":"https://w3id.org/xapi/cmi5/context/categories/moveon"}]}},"timestamp":"2026-12-05T07:00:00.123456789Z",` +
		`"stored":"2026-12-05T07:00:00.2Z","authority":{"objectType":"Agent","name":"admin","account":{"homePage":"https://learnstream.example","name":"admin"}},"version":"1.0.3"}`)
	for _, c := range []struct {
		name string
		f    func([]byte) bool
	}{{"ContainsAny", func(b []byte) bool { return bytes.ContainsAny(b, "<>&\u2028\u2029") }}, {"HTMLEscapes", HTMLEscapes}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(st)))
			for b.Loop() {
				if c.f(st) {
					b.Fatal("found something to escape")
				}
			}
		})
	}
}
