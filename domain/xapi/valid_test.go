package xapi

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

var validJSONCases = []string{
	``, ` `, `1`, `-`, `-0`, `01`, `-01`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1E-7`, `1e5x`, `2.50e+10`, `0.0e0`,
	`"`, `""`, `"\"`, `"\\"`, `"\u00e9"`, `"\u00g9"`, `"\u00e"`, `"\x"`, `"\/"`, "\"a\tb\"", "\"\x7f\xff\"",
	`true`, `tru`, `truex`, `false`, `null`, `nul`, `nulll`,
	`{}`, `{ }`, `[]`, `[ ]`, `{"a":1}`, `{"a" : 1 , "b" : [ ] }`, `{"a":1,}`, `{,}`, `{"a"}`, `{"a":}`, `{1:2}`,
	`[1,]`, `[,1]`, `[1 2]`, `[1,2]`, `[[]]`, `[{}]`, `[{]}`, `{"a":[}`, `{"a":{"b":[1,{"c":null}]}}`,
	`1 2`, ` {} `, `{}}`, `[]]`, `]`, `}`, "\t\r\n[\n]\n", `[1e400]`, `{"a":1}{`, `"a"x`,
	strings.Repeat("[", 63) + strings.Repeat("]", 63),
	strings.Repeat("[", 64) + strings.Repeat("]", 64),
	strings.Repeat("[", 65) + strings.Repeat("]", 65),
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat("}", 70),
	strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat("}", 69),
}

// TestValidJSON holds validJSON to json.Valid on hand-made cases, the
// differential inputs and byte mutations of them.
func TestValidJSON(t *testing.T) {
	inputs := [][]byte{}
	for _, c := range validJSONCases {
		inputs = append(inputs, []byte(c))
	}
	inputs = append(inputs, differentialInputs(t)...)
	r := rand.New(rand.NewPCG(3, 4))
	for _, in := range inputs[len(validJSONCases):] {
		if len(in) == 0 {
			continue
		}
		for range 4 {
			m := []byte(string(in))
			m[r.IntN(len(m))] = `{}[],:"\ 01e.-+tfnu`[r.IntN(19)]
			inputs = append(inputs, m)
		}
	}
	valid := 0
	for _, in := range inputs {
		want := json.Valid(in)
		if got := validJSON(in); got != want {
			t.Errorf("validJSON(%q) = %t, json.Valid says %t", in, got, want)
		}
		if want {
			valid++
		}
	}
	if valid < len(inputs)/10 || valid > len(inputs)*9/10 {
		t.Fatalf("%d of %d inputs valid: the cases do not cover both outcomes", valid, len(inputs))
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, c := range validJSONCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := validJSON(data), json.Valid(data); got != want {
			t.Fatalf("validJSON(%q) = %t, json.Valid says %t", data, got, want)
		}
	})
}
