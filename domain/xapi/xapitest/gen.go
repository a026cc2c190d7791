// Package xapitest generates valid xAPI data for property and fuzz tests:
// activity definitions of every interaction type and statements that carry
// them, with activity ids drawn from a small pool so that the same activity
// is defined again and again, under other interaction types too.
package xapitest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Choices decides what a generator produces. A *rand.Rand serves property
// tests; Bytes lets a fuzzer steer the same generator with its input.
type Choices interface {
	// IntN returns a number in [0, n).
	IntN(n int) int
}

// Bytes draws choices from a fuzzer's input; once it is used up every
// choice is 0, so every input, however short, yields valid data.
type Bytes []byte

// IntN implements Choices.
func (b *Bytes) IntN(n int) int {
	if n <= 1 || len(*b) == 0 {
		return 0
	}
	v := int((*b)[0])
	*b = (*b)[1:]
	return v % n
}

// Rand returns a seeded source of choices.
func Rand(seed uint64) Choices { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// InteractionTypes are the interaction types of xAPI 1.0.3 and "" (a
// definition without one).
var InteractionTypes = []string{"", "true-false", "choice", "fill-in", "long-fill-in", "matching",
	"performance", "sequencing", "likert", "numeric", "other"}

var listsOf = map[string][]string{
	"choice":      {"choices"},
	"sequencing":  {"choices"},
	"likert":      {"scale"},
	"matching":    {"source", "target"},
	"performance": {"steps"},
}

// Tags differ in case on purpose: "en-US" and "en-us" are one language.
var tags = []string{"en-US", "en-us", "fr-FR", "de", "zh-Hans-CN", "es-419", "EN-GB"}

var componentIDs = []string{"a", "b", "c", "likert_0", "likert_1", "golf", "tetris", "1", "x y"}

func pick[T any](c Choices, list []T) T { return list[c.IntN(len(list))] }

func languageMap(c Choices) map[string]string {
	m := map[string]string{}
	seen := map[string]bool{}
	for range 1 + c.IntN(3) {
		t := pick(c, tags)
		// One tag per language, as a valid map has.
		if low := strings.ToLower(t); !seen[low] {
			seen[low] = true
			m[t] = fmt.Sprintf("text %d", c.IntN(1000))
		}
	}
	return m
}

// Definition returns a valid Activity definition (as JSON values) of the
// interaction type it, "" for none.
func Definition(c Choices, it string) map[string]any {
	d := map[string]any{}
	if c.IntN(3) > 0 {
		d["name"] = languageMap(c)
	}
	if c.IntN(2) == 0 {
		d["description"] = languageMap(c)
	}
	if c.IntN(2) == 0 {
		d["type"] = pick(c, []string{"http://adlnet.gov/expapi/activities/cmi.interaction",
			"http://adlnet.gov/expapi/activities/assessment", "https://example.com/types/quiz"})
	}
	if c.IntN(4) == 0 {
		d["moreInfo"] = "https://example.com/more/" + fmt.Sprint(c.IntN(9))
	}
	if c.IntN(3) == 0 {
		d["extensions"] = map[string]any{
			fmt.Sprintf("https://example.com/ext/%d", c.IntN(4)): c.IntN(100),
		}
	}
	if it == "" {
		return d
	}
	d["interactionType"] = it
	if n := c.IntN(3); n > 0 {
		pattern := []string{}
		for range n - 1 {
			pattern = append(pattern, pick(c, []string{"a", "b[,]c", "likert_1", "golf[.]a", "{case_matters=false}x", "1[:]3"}))
		}
		d["correctResponsesPattern"] = pattern
	}
	for _, list := range listsOf[it] {
		if c.IntN(4) == 0 {
			continue // a list may be left out
		}
		var comps []map[string]any
		used := map[string]bool{}
		for range c.IntN(4) {
			id := pick(c, componentIDs)
			if used[id] {
				continue
			}
			used[id] = true
			comp := map[string]any{"id": id}
			if c.IntN(2) == 0 {
				comp["description"] = languageMap(c)
			}
			comps = append(comps, comp)
		}
		if comps == nil {
			comps = []map[string]any{}
		}
		d[list] = comps
	}
	return d
}

// ActivityIDs is the pool activities are drawn from.
var ActivityIDs = []string{"http://www.example.com/verify/complete/34534", "https://example.com/act/likert",
	"https://example.com/act/q1", "https://example.com/act/course"}

func activity(c Choices) map[string]any {
	a := map[string]any{"id": pick(c, ActivityIDs)}
	if c.IntN(2) == 0 {
		a["objectType"] = "Activity"
	}
	if c.IntN(5) > 0 {
		a["definition"] = Definition(c, pick(c, InteractionTypes))
	}
	return a
}

func core(c Choices, sub bool) map[string]any {
	s := map[string]any{
		"actor": map[string]any{"mbox": fmt.Sprintf("mailto:learner%d@example.com", c.IntN(3))},
		"verb":  map[string]any{"id": pick(c, []string{"http://adlnet.gov/expapi/verbs/answered", "http://adlnet.gov/expapi/verbs/attempted"})},
	}
	obj := activity(c)
	if !sub && c.IntN(6) == 0 {
		obj = core(c, true)
		obj["objectType"] = "SubStatement"
	}
	s["object"] = obj
	if c.IntN(2) == 0 {
		ctx := map[string]any{}
		ca := map[string]any{}
		for _, k := range []string{"parent", "grouping", "category", "other"} {
			if c.IntN(3) == 0 {
				ca[k] = []any{activity(c)}
			}
		}
		if len(ca) > 0 {
			ctx["contextActivities"] = ca
		}
		if c.IntN(3) == 0 {
			ctx["language"] = pick(c, tags)
		}
		s["context"] = ctx
	}
	if c.IntN(2) == 0 {
		s["result"] = map[string]any{"response": "a", "success": c.IntN(2) == 0}
	}
	return s
}

// Statement returns the JSON of a valid statement without id, stored and
// authority (the LRS adds those).
func Statement(c Choices) []byte {
	b, err := json.Marshal(core(c, false))
	if err != nil {
		panic(err) // maps of strings and numbers always marshal
	}
	return b
}
