package xapi

import (
	"fmt"
	"strings"
	"testing"
)

func TestUUIDText(t *testing.T) {
	for _, b := range [][]byte{
		make([]byte, 16),
		{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	} {
		want := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
		if got := UUIDText(b); got != want || !IsUUID(got) {
			t.Errorf("UUIDText(% x) = %q, want %q", b, got, want)
		}
	}
}

func TestIsUUID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"fd41c918-b88b-4b20-a0a5-a4c32391aaa0", true},
		{"FD41C918-B88B-4B20-A0A5-A4C32391AAA0", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"fd41c918-b88b-1b20-c0a5-a4c32391aaa0", true}, // other version and variant
		{"", false},
		{"fd41c918b88b4b20a0a5a4c32391aaa0", false},
		{"fd41c918-b88b-4b20-a0a5-a4c32391aaa", false},
		{"fd41c918-b88b-4b20-a0a5-a4c32391aaa00", false},
		{"gd41c918-b88b-4b20-a0a5-a4c32391aaa0", false},
		{"fd41c918_b88b_4b20_a0a5_a4c32391aaa0", false},
		{"{d41c918-b88b-4b20-a0a5-a4c32391aaa}", false},
		{"urn:uuid:fd41c918-b88b-4b20-a0a5-a4c32391aaa0", false},
	}
	for _, tc := range tests {
		if got := IsUUID(tc.in); got != tc.want {
			t.Errorf("IsUUID(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestIsIRI(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"http://adlnet.gov/expapi/verbs/attempted", true},
		{"https://w3id.org/xapi/cmi5/context/categories/cmi5", true},
		{"http://example.com/xapi/verbs#defenestrated", true},
		{"http://example.com/فعل/خواندن", true},
		{"urn:uuid:fd41c918-b88b-4b20-a0a5-a4c32391aaa0", true},
		{"tag:example.com,2024:activity/1", true},
		{"mailto:ana@example.com", true},
		{"file:///tmp/x", true},
		{"http://example.com/a%20b?x=1&y=2", true},
		{"x-custom+scheme.v1:thing", true},
		{"http://[::1]:8080/a", true},
		{"", false},
		{"should error", false},
		{"example.com/path", false},
		{"/relative/path", false},
		{"#fragment", false},
		{"ab=c://should.fail.com", false},
		{"1http://example.com", false},
		{":nothing", false},
		{"http:", false},
		{"http://", false},
		{"http:///path", false},
		{"http://example.com/a b", false},
		{" http://example.com", false},
		{"http://example.com/\t", false},
		{"http://example.com/<script>", false},
		{`http://example.com/"q"`, false},
		{"http://example.com/{id}", false},
		{"http://example.com/a|b", false},
		{`http://example.com/a\b`, false},
		{"http://example.com/%zz", false},
		{"http://example.com/%2", false},
		{"http://example.com/#a#b", false},
		{"http://example.com/\x00", false},
		{"http://example.com/\u0085", false},
	}
	for _, tc := range tests {
		if got := IsIRI(tc.in); got != tc.want {
			t.Errorf("IsIRI(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestIsLanguageTag(t *testing.T) {
	valid := []string{
		"de", "en", "tlh", "ine", "es-419", "en-US", "en-us", "EN-us", "zh-Hant", "sr-Latn",
		"zh-cmn-Hans-CN", "sr-Latn-RS", "sl-rozaj", "sl-rozaj-biske", "sl-nedis",
		"de-CH-1901", "hy-Latn-IT-arevela", "de-DE", "az-Arab-x-AZE-derbend",
		"x-whatever", "qaa-Qaaa-QM-x-southern", "de-Qaaa", "sr-Latn-QM", "sr-Qaaa-RS",
		"en-US-u-islamcal", "zh-CN-a-myext-x-private", "en-a-myext-b-another",
		"i-enochian", "i-klingon", "en-GB-oed", "zh-min-nan", "art-lojban", "sgn-BE-FR",
		"abcde", "abcdefgh", "en-1996", "de-1901-1996",
	}
	invalid := []string{
		"", "-", "en-", "-en", "en--US", "a12345", "a-DE", "de-419-DE", "ar-a-aaa-b-bbb-a-ccc",
		"en_US", "en US", "abcdefghi", "en-abcdefghi", "x", "en-x", "en-a", "en-a-b",
		"123", "en-US-", "zh-abc-def-ghi-jkl", "abcd-abc", "en-US-GB", "de-Latn-Cyrl",
		"en-ü", "1en",
	}
	for _, tag := range valid {
		if !IsLanguageTag(tag) {
			t.Errorf("IsLanguageTag(%q) = false, want true", tag)
		}
	}
	for _, tag := range invalid {
		if IsLanguageTag(tag) {
			t.Errorf("IsLanguageTag(%q) = true, want false", tag)
		}
	}
}

func TestIsMbox(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"mailto:ana@example.com", true},
		{"mailto:ana.lima+xapi@mail.example.co.uk", true},
		{"mailto:Ana@EXAMPLE.COM", true},
		{"mailto:user@localhost", true},
		{"mailto:", false},
		{"ana@example.com", false},
		{"MAILTO:ana@example.com", false},
		{"mailto:ana", false},
		{"mailto:@example.com", false},
		{"mailto:ana@", false},
		{"mailto:ana @example.com", false},
		{"mailto:a@example.com,b@example.com", false},
		{"mailto:a@example.com?subject=hi", false},
		{"mailto:<a@example.com>", false},
	}
	for _, tc := range tests {
		if got := isMbox(tc.in); got != tc.want {
			t.Errorf("isMbox(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestSmallFormats(t *testing.T) {
	tests := []struct {
		name string
		f    func(string) bool
		in   string
		want bool
	}{
		{"sha1", isSHA1Hex, "ebd31e95054c018b10727ccffd2ef2ec3a016ee9", true},
		{"sha1 upper", isSHA1Hex, "EBD31E95054C018B10727CCFFD2EF2EC3A016EE9", true},
		{"sha1 short", isSHA1Hex, "ebd31e95054c018b10727ccffd2ef2ec3a016ee", false},
		{"sha1 non-hex", isSHA1Hex, "ebd31e95054c018b10727ccffd2ef2ec3a016eeg", false},
		{"sha224", isSHA2Hex, strings.Repeat("a", 56), true},
		{"sha256", isSHA2Hex, "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a", true},
		{"sha384", isSHA2Hex, strings.Repeat("B", 96), true},
		{"sha512", isSHA2Hex, strings.Repeat("0", 128), true},
		{"sha2 of odd length", isSHA2Hex, strings.Repeat("a", 63), false},
		{"sha2 non-hex", isSHA2Hex, strings.Repeat("z", 64), false},
		{"media type", isMediaType, "application/octet-stream", true},
		{"media type with parameters", isMediaType, "text/plain; charset=ascii", true},
		{"media type with suffix", isMediaType, "application/ld+json", true},
		{"media type without subtype", isMediaType, "text", false},
		{"media type text", isMediaType, "should fail", false},
		{"media type empty subtype", isMediaType, "text/", false},
		{"media type bad parameter", isMediaType, "text/plain; charset", false},
		{"version 1.0", Spec1.acceptsVersion, "1.0", true},
		{"version 1.0.0", Spec1.acceptsVersion, "1.0.0", true},
		{"version 1.0.31", Spec1.acceptsVersion, "1.0.31", true},
		{"version 1.0.x", Spec1.acceptsVersion, "1.0.x", false},
		{"version 1.1.0", Spec1.acceptsVersion, "1.1.0", false},
		{"version 1", Spec1.acceptsVersion, "1", false},
		{"version 1.0.0-rc1", Spec1.acceptsVersion, "1.0.0-rc1", false},
		{"lenient language", isLenientLanguage, "supercalifragilisticexpialidociouswhatabouthhhhhhh", true},
		{"lenient language tag", isLenientLanguage, "en-US", true},
		{"lenient language empty", isLenientLanguage, "", false},
		{"lenient language double hyphen", isLenientLanguage, "en--US", false},
		{"lenient language trailing hyphen", isLenientLanguage, "en-", false},
		{"lenient language underscore", isLenientLanguage, "en_US", false},
	}
	for _, tc := range tests {
		if got := tc.f(tc.in); got != tc.want {
			t.Errorf("%s: %q -> %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
}

// TestPlainLanguageTag holds the allocation-free shortcut of IsLanguageTag
// to the full rules: every tag it accepts, the rules accept.
func TestPlainLanguageTag(t *testing.T) {
	var tags []string
	for _, lang := range []string{"", "e", "en", "EN", "deu", "engl", "e1", "zh"} {
		tags = append(tags, lang)
		for _, region := range []string{"", "US", "us", "419", "4190", "U", "Hans", "1a", "x", "-"} {
			tags = append(tags, lang+"-"+region)
		}
	}
	plain := 0
	for _, tag := range tags {
		if isPlainLanguageTag(tag) {
			plain++
			if !isLanguageTag(tag) {
				t.Errorf("%q: the shortcut accepts it, the rules do not", tag)
			}
		}
	}
	if plain < 10 {
		t.Fatalf("only %d plain tags among the cases", plain)
	}
}
