// Package xapi is learnstream's model of xAPI statements, of versions 1.0.3
// and 2.0.0 (IEEE 9274.1.1-2023): parsing with full validation against the
// Data chapter of the specification version a request names (see Spec),
// canonical JSON, agent identity keys, the statement comparison rules that
// decide between "same statement again" and "conflict", voiding, and the
// shaping of statements for the "format" parameter of GET /statements.
//
// The package is pure: no IO, standard library only. The HTTP layer, the
// projections and the SCORM bridge all build on it, so every statement in
// the system passes the same rules.
//
// # Parsing and errors
//
// ParseStatements parses a POST body (one statement or an array) and
// ParseStatementAs a single statement (PUT) under the rules of the version
// the request named; ParseStatement reads a stored statement (either
// version's rules); ParseAgent parses the "agent" query parameter. Parsing is strict, as the specification asks of an LRS:
// unknown or wrongly cased properties, nulls outside extensions, strings
// where numbers or booleans belong, and malformed UUIDs, IRIs, mailto IRIs,
// language tags, timestamps and durations are all rejected. Each error is a
// *ValidationError naming the JSON path of the offending value and the rule
// it breaks, e.g.
//
//	statements[2].actor.mbox: must be a mailto IRI: "mailto:" followed by one email address
//
// A few checks are deliberately lenient where the specification or the ADL
// conformance suite demands it: IRIs get a best-effort syntax check,
// context.language accepts any tag-shaped word, and extension values are
// never inspected.
//
// # Writing
//
// Statement.MarshalJSON writes canonical JSON: properties in specification
// order, sorted map keys, UTC timestamps, contextActivities as arrays.
// Extension values are kept byte for byte (compacted). DecodeStored reads
// canonical JSON back without the Data chapter's checks.
//
// # Cost
//
// Every statement is parsed once by the API, encoded once, and decoded by
// every stream consumer, so all three are written for speed: one check
// that the body is JSON and then direct walks over its bytes, and appenders
// into one buffer, rather than encoding/json's reflection. Their results,
// bytes and error messages are those of the reflective implementation they
// replaced, which internal/oracle keeps for the differential tests and
// fuzz targets (FuzzDifferential, FuzzValidJSON) and for the benchmarks'
// before and after (BenchmarkParseStatements, BenchmarkDecodeStored,
// BenchmarkMarshalJSON).
//
// # The LRS write path
//
// After parsing, the LRS calls Prepare (id, stored, authority, timestamp,
// version), checks IsVoiding, and, when a statement with the same id
// exists, compares the two with Equivalent. LearnerKey gives the event log's
// partition key.
package xapi
