package xapi

import (
	"encoding/json"
	"slices"
	"strings"
)

// interactionLists names the component lists each interaction type uses
// (Data 2.4.4.1.1); a list of another type is not allowed beside it.
var interactionLists = map[string][]string{
	InteractionTrueFalse:   nil,
	InteractionChoice:      {"choices"},
	InteractionFillIn:      nil,
	InteractionLongFillIn:  nil,
	InteractionMatching:    {"source", "target"},
	InteractionPerformance: {"steps"},
	InteractionSequencing:  {"choices"},
	InteractionLikert:      {"scale"},
	InteractionNumeric:     nil,
	InteractionOther:       nil,
}

// InteractionTypes lists every interaction type, in the order of the
// specification.
func InteractionTypes() []string {
	return []string{InteractionTrueFalse, InteractionChoice, InteractionFillIn, InteractionLongFillIn,
		InteractionMatching, InteractionPerformance, InteractionSequencing, InteractionLikert,
		InteractionNumeric, InteractionOther}
}

var componentListKeys = []string{"choices", "scale", "source", "target", "steps"}

func (d *ActivityDefinition) componentLists() map[string]*[]InteractionComponent {
	return map[string]*[]InteractionComponent{
		"choices": &d.Choices, "scale": &d.Scale, "source": &d.Source, "target": &d.Target, "steps": &d.Steps,
	}
}

// Validate checks the rules of an Activity definition that hold between its
// properties and inside its values: a known interaction type, component
// lists and a correct responses pattern only with an interaction type and
// only the lists of that type, distinct non-empty component ids, well-formed
// language maps, IRIs and extension keys. Parsing applies exactly these
// rules, so a definition the LRS accepts validates, and so must every
// definition the LRS derives from accepted ones (the merged canonical one).
func (d *ActivityDefinition) Validate() error {
	return d.validate("definition")
}

func (d *ActivityDefinition) validate(path string) error {
	// Paths are joined only for an error: a definition is validated with
	// every statement that carries one.
	if !languageMapOK(d.Name) {
		return checkLanguageMap(d.Name, joinKey(path, "name"))
	}
	if !languageMapOK(d.Description) {
		return checkLanguageMap(d.Description, joinKey(path, "description"))
	}
	if d.Type != "" && !IsIRI(d.Type) {
		return invalid(joinKey(path, "type"), "must be an absolute IRI with a scheme, like \"https://example.com/path\" (no spaces)")
	}
	if d.MoreInfo != "" && !IsIRL(d.MoreInfo) {
		return invalid(joinKey(path, "moreInfo"), "must be an absolute IRL with a scheme, like \"https://example.com/page\" (no spaces)")
	}
	if d.InteractionType != "" {
		if _, known := interactionLists[d.InteractionType]; !known {
			return invalid(joinKey(path, "interactionType"), `must be one of "true-false", "choice", "fill-in", "long-fill-in", "matching", "performance", "sequencing", "likert", "numeric" or "other" (exact case)`)
		}
	}
	if d.CorrectResponsesPattern != nil && d.InteractionType == "" {
		return invalid(joinKey(path, "correctResponsesPattern"), "may only be used together with interactionType")
	}
	for k, list := range [...][]InteractionComponent{d.Choices, d.Scale, d.Source, d.Target, d.Steps} {
		if list == nil {
			continue
		}
		key := componentListKeys[k]
		if d.InteractionType == "" {
			return invalid(joinKey(path, key), "may only be used together with interactionType")
		}
		if !slices.Contains(interactionLists[d.InteractionType], key) {
			return invalid(joinKey(path, key), "is not a component list of a %q interaction%s", d.InteractionType, listsHint(d.InteractionType))
		}
		// Lists are short, so comparing with the earlier ids costs less
		// than a set; a long list gets one, so that it costs linear time.
		var seen map[string]bool
		if len(list) > 16 {
			seen = make(map[string]bool, len(list))
		}
		for i, c := range list {
			if c.ID == "" {
				return invalid(joinKey(joinIndex(joinKey(path, key), i), "id"), "must not be empty")
			}
			repeated := false
			if seen != nil {
				repeated = seen[c.ID]
				seen[c.ID] = true
			} else {
				for _, e := range list[:i] {
					repeated = repeated || e.ID == c.ID
				}
			}
			if repeated {
				return invalid(joinKey(joinIndex(joinKey(path, key), i), "id"), "must be distinct within the list: %q is used twice", c.ID)
			}
			if !languageMapOK(c.Description) {
				return checkLanguageMap(c.Description, joinKey(joinIndex(joinKey(path, key), i), "description"))
			}
		}
	}
	for k := range d.Extensions {
		if !IsIRI(k) {
			return invalid(joinMapKey(joinKey(path, "extensions"), k), "is not an IRI: extension keys must be IRIs, like \"https://example.com/extensions/level\"")
		}
	}
	return nil
}

func listsHint(interactionType string) string {
	lists := interactionLists[interactionType]
	if len(lists) == 0 {
		return " (it has none)"
	}
	return " (it uses " + strings.Join(lists, " and ") + ")"
}

// languageMapOK reports whether checkLanguageMap accepts lm, without the
// cost of naming a path.
func languageMapOK(lm LanguageMap) bool { return checkLanguageMap(lm, "") == nil }

// checkLanguageMap checks a language map's tags: each an RFC 5646 tag, no
// two naming the same language. An empty map is an absent one (it is not
// written out).
func checkLanguageMap(lm LanguageMap, path string) error {
	if len(lm) == 0 {
		return nil
	}
	if len(lm) == 1 {
		// The usual case: one language, nothing to compare it with.
		for k := range lm {
			if !IsLanguageTag(k) {
				return invalid(joinMapKey(path, k), "is not an RFC 5646 language tag, like \"en\" or \"en-US\"")
			}
		}
		return nil
	}
	keys := make([]string, 0, len(lm))
	for k := range lm {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	folded := make(map[string]string, len(keys))
	for _, k := range keys {
		if !IsLanguageTag(k) {
			return invalid(joinMapKey(path, k), "is not an RFC 5646 language tag, like \"en\" or \"en-US\"")
		}
		// Tags are case-insensitive, so "en-US" and "en-us" are one language.
		lower := strings.ToLower(k)
		if other, dup := folded[lower]; dup {
			return invalid(joinMapKey(path, k), "names the same language as %q (language tags are case-insensitive)", other)
		}
		folded[lower] = k
	}
	return nil
}

// MergeDefinition folds a newly seen definition into the known canonical
// one, as the Activities resource presents it (xAPI 1.0.3 Data 2.4.4.1 and
// Communication 2.5: the Activity holds all that statements said about it,
// the LRS trusting the latest statement to change it):
//
//   - language maps (name, description, component descriptions) are merged
//     entry by entry, the newer text winning for the same language (tags
//     compared without case);
//   - type and moreInfo are replaced when the newer definition has them;
//     extensions are merged key by key;
//   - the interaction (interactionType, correctResponsesPattern and the
//     component lists) is one unit: a definition naming another
//     interaction type replaces it whole, so no list or pattern of the old
//     type survives; under the same type, a pattern or list the newer
//     definition has replaces the old one (descriptions of components with
//     the same id merged); a definition without interactionType leaves it.
//
// If known and seen both validate, so does the result. Neither argument is
// modified.
func MergeDefinition(known, seen *ActivityDefinition) *ActivityDefinition {
	if seen == nil {
		if known == nil {
			return nil
		}
		c := known.clone()
		return &c
	}
	if known == nil {
		c := seen.clone()
		return &c
	}
	out := known.clone()
	out.Name = mergeLanguage(out.Name, seen.Name)
	out.Description = mergeLanguage(out.Description, seen.Description)
	if seen.Type != "" {
		out.Type = seen.Type
	}
	if seen.MoreInfo != "" {
		out.MoreInfo = seen.MoreInfo
	}
	switch {
	case seen.InteractionType == "":
		// Nothing said about the interaction: the known one stays.
	case seen.InteractionType != known.InteractionType:
		out.InteractionType = seen.InteractionType
		out.CorrectResponsesPattern = slices.Clone(seen.CorrectResponsesPattern)
		dst, src := out.componentLists(), seen.componentLists()
		for _, key := range componentListKeys {
			*dst[key] = cloneComponents(*src[key])
		}
	default:
		if seen.CorrectResponsesPattern != nil {
			out.CorrectResponsesPattern = slices.Clone(seen.CorrectResponsesPattern)
		}
		dst, src := out.componentLists(), seen.componentLists()
		for _, key := range componentListKeys {
			if *src[key] != nil {
				*dst[key] = mergeComponents(*dst[key], *src[key])
			}
		}
	}
	if len(seen.Extensions) > 0 {
		if out.Extensions == nil {
			out.Extensions = Extensions{}
		}
		for k, v := range seen.Extensions {
			out.Extensions[k] = v
		}
	}
	return &out
}

// mergeComponents returns the seen list, in its order and with its ids,
// each component's description merged with that of the known component of
// the same id.
func mergeComponents(known, seen []InteractionComponent) []InteractionComponent {
	out := cloneComponents(seen)
	for i := range out {
		for _, k := range known {
			if k.ID == out[i].ID {
				out[i].Description = mergeLanguage(k.Description, out[i].Description)
				break
			}
		}
	}
	return out
}

// mergeLanguage merges seen into known; a seen entry replaces the known one
// for the same language even when the tags differ in case.
func mergeLanguage(known, seen LanguageMap) LanguageMap {
	if len(seen) == 0 {
		return known.clone()
	}
	out := known.clone()
	if out == nil {
		out = LanguageMap{}
	}
	for k, v := range seen {
		for old := range out {
			if old != k && strings.EqualFold(old, k) {
				delete(out, old)
			}
		}
		out[k] = v
	}
	return out
}

// ParseStoredActivity reads an Activity the LRS stored itself (a canonical
// definition). It applies the rules of ParseActivity; a definition stored
// by an earlier release, whose merging could keep component lists or a
// pattern its interaction type does not use, is read without them, so the
// LRS can still serve and merge it.
func ParseStoredActivity(data []byte) (Activity, error) {
	a, err := ParseActivity(data)
	if err == nil {
		return a, nil
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(data, &raw) != nil {
		return Activity{}, err
	}
	var def map[string]json.RawMessage
	if json.Unmarshal(raw["definition"], &def) != nil || def == nil {
		return Activity{}, err
	}
	var it string
	if t, ok := def["interactionType"]; ok && json.Unmarshal(t, &it) != nil {
		return Activity{}, err
	}
	for _, key := range componentListKeys {
		if !slices.Contains(interactionLists[it], key) {
			delete(def, key)
		}
	}
	if it == "" {
		delete(def, "correctResponsesPattern")
	}
	b, merr := json.Marshal(def)
	if merr != nil {
		return Activity{}, err
	}
	raw["definition"] = b
	if b, merr = json.Marshal(raw); merr != nil {
		return Activity{}, err
	}
	if a, rerr := ParseActivity(b); rerr == nil {
		return a, nil
	}
	return Activity{}, err
}
