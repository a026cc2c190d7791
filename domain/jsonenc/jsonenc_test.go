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
