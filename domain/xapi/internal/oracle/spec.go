package oracle

import (
	"strings"
)

// Spec is the version of the xAPI specification whose rules govern a
// request. The LRS serves xAPI 1.0.3 and xAPI 2.0.0 (IEEE 9274.1.1-2023)
// side by side, chosen by each request's X-Experience-API-Version header,
// over one store: a statement is stored once, in the form it was accepted
// in, and read back by clients of either version.
type Spec uint8

const (
	// SpecAny is the rule set for statements already stored (events, the
	// projections, signed payloads): what either version accepts. The
	// write path checked the request's own version before storing.
	SpecAny Spec = iota
	// Spec1 is xAPI 1.0.x, whose latest patch, 1.0.3, the LRS speaks.
	Spec1
	// Spec2 is xAPI 2.0.x (IEEE 9274.1.1-2023).
	Spec2
)

// Latest is the newest version the LRS speaks.
const Latest = Spec2

// Header is the value of the X-Experience-API-Version header an LRS of
// this version sends on every response.
func (s Spec) Header() string {
	if s == Spec1 {
		return "1.0.3"
	}
	return "2.0.0"
}

// StatementVersion is the version the LRS writes into a statement that
// arrives without one. xAPI 1.0.x statements get "1.0.0", as 1.0.3 asks
// (every 1.0.x shares the 1.0.0 data model); 2.0 statements get "2.0.0".
func (s Spec) StatementVersion() string {
	if s == Spec1 {
		return Version
	}
	return "2.0.0"
}

func (s Spec) String() string {
	switch s {
	case Spec1:
		return "xAPI 1.0.3"
	case Spec2:
		return "xAPI 2.0.0"
	}
	return "xAPI 1.0.3 or 2.0.0"
}

// SpecOf maps an X-Experience-API-Version header to the version it
// selects: "1.0" and "1.0.x" select 1.0.3, "2.0" and "2.0.x" select 2.0.0.
// Anything else (including an empty value) is not served.
func SpecOf(header string) (Spec, bool) {
	switch {
	case isLineVersion(header, "1.0"):
		return Spec1, true
	case isLineVersion(header, "2.0"):
		return Spec2, true
	}
	return SpecAny, false
}

// isLineVersion accepts line itself ("1.0") and line.patch ("1.0.3").
func isLineVersion(s, line string) bool {
	if s == line {
		return true
	}
	patch, ok := strings.CutPrefix(s, line+".")
	return ok && patch != "" && isDigits(patch)
}

// acceptsVersion reports whether a statement's version property is
// acceptable under s. xAPI 1.0.3 accepts the 1.0 line only; xAPI 2.0
// accepts its own line and, since a 2.0 LRS must keep serving statements
// written for 1.0, the 1.0 line too (Data 2.4.10).
func (s Spec) acceptsVersion(v string) bool {
	if isLineVersion(v, "1.0") {
		return true
	}
	return s != Spec1 && isLineVersion(v, "2.0")
}

func (s Spec) versionRule() string {
	if s == Spec1 {
		return `must be "1.0" or "1.0.x" under xAPI 1.0.3`
	}
	return `must be "1.0", "1.0.x", "2.0" or "2.0.x"`
}
