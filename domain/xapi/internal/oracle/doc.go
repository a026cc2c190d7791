// Package oracle is the xapi package as it was before its parser, stored
// decoder and encoder were rewritten for speed (issue 16), kept unchanged
// and used only by xapi's tests: differential tests and fuzz targets check
// that the fast code accepts, rejects (with the same message), decodes and
// encodes exactly as this one did, and the benchmarks compare the two in
// the same run. Nothing outside tests may import it.
package oracle
