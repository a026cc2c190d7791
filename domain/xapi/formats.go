package xapi

import (
	"encoding/hex"
	"mime"
	"strings"
	"unicode/utf8"
)

// UUIDText is the standard 8-4-4-4-12 text of the UUID in b's first 16
// bytes, lower case.
func UUIDText(b []byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// IsUUID reports whether s is a UUID in the standard 8-4-4-4-12 hex form.
// Any version and variant is accepted, and either case: the specification
// only demands the standard string form, and ids minted by other LRSs and
// content tools do not all follow RFC 4122 variant bits.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i]) {
				return false
			}
		}
	}
	return true
}

// IsIRI reports whether s looks like an absolute IRI: a scheme, a colon and
// something after it, with no characters that RFC 3987 never allows
// (whitespace, controls, <>"{}|\^`) and well-formed percent escapes. The
// specification allows this best-effort check; full IRI parsing would reject
// identifiers that real content tools emit without making the data any
// safer.
func IsIRI(s string) bool {
	colon := strings.IndexByte(s, ':')
	if colon < 1 || colon == len(s)-1 {
		return false
	}
	if !isScheme(s[:colon]) {
		return false
	}
	rest := s[colon+1:]
	if strings.HasPrefix(rest, "//") {
		// An authority that is announced must be there ("http://" alone is
		// not an identifier); file:/// is the one scheme that omits it.
		end := strings.IndexAny(rest[2:], "/?#")
		if end < 0 {
			end = len(rest) - 2
		}
		if end == 0 && !strings.EqualFold(s[:colon], "file") {
			return false
		}
	}
	if strings.Count(rest, "#") > 1 {
		return false
	}
	for i := 0; i < len(rest); {
		// Byte by byte while ASCII, which IRIs mostly are: a statement
		// holds several, and this loop ran for every byte of each.
		if c := rest[i]; c < utf8.RuneSelf {
			if iriRefused[c] {
				return false
			}
			if c == '%' && (i+2 >= len(rest) || !isHex(rest[i+1]) || !isHex(rest[i+2])) {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(rest[i:])
		if (r == utf8.RuneError && size == 1) || r <= 0x9f {
			return false // invalid UTF-8, or a C1 control
		}
		i += size
	}
	return true
}

// iriRefused marks the ASCII characters an IRI never holds: controls,
// space, DEL and <>"{}|\^`.
var iriRefused = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = c <= ' ' || c == 0x7f || strings.IndexByte(`<>"{}|\^`+"`", byte(c)) >= 0
	}
	return t
}()

// IsIRL reports whether s is a plausible locator. The specification leaves
// IRL validation best effort too; an IRL is an IRI that is meant to resolve,
// which nothing short of resolving it can check.
func IsIRL(s string) bool { return IsIRI(s) }

// isMbox reports whether s is a mailto IRI holding one email address.
// The scheme must be spelled "mailto:" exactly, as the specification
// prescribes; the address needs a local part and a domain.
func isMbox(s string) bool {
	addr, ok := strings.CutPrefix(s, "mailto:")
	if !ok || !IsIRI(s) {
		return false
	}
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return false
	}
	// Query parts and address lists would make one mbox name several people.
	return !strings.ContainsAny(addr, "?,;")
}

func isSHA1Hex(s string) bool { return len(s) == 40 && isHexString(s) }

// isSHA2Hex accepts the hex digests of the SHA-2 family (SHA-224, -256,
// -384, -512), which is what the X-Experience-API-Hash header carries.
func isSHA2Hex(s string) bool {
	switch len(s) {
	case 56, 64, 96, 128:
		return isHexString(s)
	}
	return false
}

// isMediaType reports whether s is an Internet media type with a subtype
// ("text/plain; charset=utf-8"), as an attachment's contentType must be.
func isMediaType(s string) bool {
	mt, _, err := mime.ParseMediaType(s)
	if err != nil {
		return false
	}
	slash := strings.IndexByte(mt, '/')
	return slash > 0 && slash < len(mt)-1
}

// IsLanguageTag reports whether tag is a well-formed RFC 5646 language tag
// (the order and length of its subtags are right; whether a subtag is
// registered is not checked, which the specification allows).
func IsLanguageTag(tag string) bool {
	return isPlainLanguageTag(tag) || isLanguageTag(tag)
}

func isLanguageTag(tag string) bool {
	if tag == "" {
		return false
	}
	if grandfathered[strings.ToLower(tag)] {
		return true
	}
	parts := strings.Split(tag, "-")
	for _, p := range parts {
		if p == "" || len(p) > 8 || !isAlnum(p) {
			return false
		}
	}
	if strings.EqualFold(parts[0], "x") {
		return len(parts) > 1 // private use only, e.g. "x-whatever"
	}
	n, i := len(parts), 0

	// language: 2-3 letters with up to three extlangs, or 4-8 letters.
	switch lang := parts[0]; {
	case (len(lang) == 2 || len(lang) == 3) && isAlpha(lang):
		i = 1
		for ext := 0; ext < 3 && i < n && len(parts[i]) == 3 && isAlpha(parts[i]); ext++ {
			i++
		}
	case len(lang) >= 4 && isAlpha(lang):
		i = 1
	default:
		return false
	}
	// script: 4 letters.
	if i < n && len(parts[i]) == 4 && isAlpha(parts[i]) {
		i++
	}
	// region: 2 letters or 3 digits.
	if i < n && ((len(parts[i]) == 2 && isAlpha(parts[i])) || (len(parts[i]) == 3 && isDigits(parts[i]))) {
		i++
	}
	// variants: 5-8 alphanumerics, or a digit and 3 alphanumerics.
	for i < n && (len(parts[i]) >= 5 || (len(parts[i]) == 4 && isDigits(parts[i][:1]))) {
		i++
	}
	// extensions: a singleton (not x) and one or more 2-8 character subtags;
	// each singleton at most once.
	seen := map[string]bool{}
	for i < n && len(parts[i]) == 1 && !strings.EqualFold(parts[i], "x") {
		s := strings.ToLower(parts[i])
		if seen[s] {
			return false
		}
		seen[s] = true
		i++
		start := i
		for i < n && len(parts[i]) >= 2 {
			i++
		}
		if i == start {
			return false
		}
	}
	// private use: x and one or more 1-8 character subtags.
	if i < n && strings.EqualFold(parts[i], "x") {
		return i+1 < n
	}
	return i == n
}

// isPlainLanguageTag reports, without allocating, whether tag is a
// language of two or three letters with or without a region of two letters
// or three digits ("en", "en-US", "es-419"): almost every tag statements
// use, and each one the rules below accept.
func isPlainLanguageTag(tag string) bool {
	lang, region, hasRegion := strings.Cut(tag, "-")
	if len(lang) < 2 || len(lang) > 3 || !isAlpha(lang) {
		return false
	}
	if !hasRegion {
		return true
	}
	return (len(region) == 2 && isAlpha(region)) || (len(region) == 3 && isDigits(region))
}

// isLenientLanguage checks the shape of a language range in an
// Accept-Language header: hyphen-separated runs of letters and digits.
// Ranges are matched against stored tags, not stored, so a range that is
// no well-formed tag only fails to match.
func isLenientLanguage(s string) bool {
	if s == "" || strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-") || strings.Contains(s, "--") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '-' && !isAlnumByte(c) {
			return false
		}
	}
	return true
}

// grandfathered lists the tags RFC 5646 section 2.2.8 keeps for
// compatibility with RFC 3066; some of them do not fit the normal grammar.
var grandfathered = map[string]bool{
	"en-gb-oed": true, "i-ami": true, "i-bnn": true, "i-default": true,
	"i-enochian": true, "i-hak": true, "i-klingon": true, "i-lux": true,
	"i-mingo": true, "i-navajo": true, "i-pwn": true, "i-tao": true,
	"i-tay": true, "i-tsu": true, "sgn-be-fr": true, "sgn-be-nl": true,
	"sgn-ch-de": true, "art-lojban": true, "cel-gaulish": true,
	"no-bok": true, "no-nyn": true, "zh-guoyu": true, "zh-hakka": true,
	"zh-min": true, "zh-min-nan": true, "zh-xiang": true,
}

func isScheme(s string) bool {
	if s == "" || !isAlphaByte(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlnumByte(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isHexString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return s != ""
}

func isAlphaByte(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func isAlnumByte(c byte) bool { return isAlphaByte(c) || (c >= '0' && c <= '9') }

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlphaByte(s[i]) {
			return false
		}
	}
	return s != ""
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnumByte(s[i]) {
			return false
		}
	}
	return s != ""
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
