package analytics

import (
	"math"
	"strconv"
	"time"

	"github.com/learnstream/learnstream/domain/jsonenc"
)

// IngestVersion is the version of the row encoders. It is the version column
// of every fact table's ReplacingMergeTree: bump it when an encoder starts
// deriving a column differently, and a replay replaces the rows the older
// encoder wrote. Version 2 reads durations with the LRS's parser, which
// counts a year as 365.25 days (version 1 counted 365) and rejects "P1W2D".
const IngestVersion uint32 = 2

// Row is one row of one table, ready for either insert path: Values feeds
// clickhouse-go's batch Append (native protocol), AppendJSON writes one line
// of JSONEachRow (HTTP inserts, chDB, dead-letter inspection).
type Row interface {
	// Table is the destination table.
	Table() string
	// Columns lists the columns Values and AppendJSON fill, in order. The
	// slice is shared: do not modify it.
	Columns() []string
	// Values returns the column values as Go types clickhouse-go appends:
	// string, uint8..uint64, float64, time.Time, []string, []float64 and
	// pointers for Nullable columns.
	Values() []any
	// AppendJSON appends the row as one JSON object (no newline).
	AppendJSON(b []byte) []byte
	// Size estimates the row's encoded size in bytes (for batch bounds).
	Size() int
}

// jsonTimeLayout is the DateTime64(3) text form ClickHouse parses by default.
const jsonTimeLayout = "2006-01-02 15:04:05.000"

// jsonw appends the fields of one JSON object.
type jsonw struct {
	b     []byte
	first bool
}

func newJSONW(b []byte) jsonw { return jsonw{b: append(b, '{'), first: true} }

func (w *jsonw) key(k string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *jsonw) str(k, v string) { w.key(k); w.b = jsonenc.AppendString(w.b, v) }
func (w *jsonw) u64(k string, v uint64) {
	w.key(k)
	w.b = strconv.AppendUint(w.b, v, 10)
}
func (w *jsonw) f64(k string, v float64) { w.key(k); w.b = appendFloat(w.b, v) }
func (w *jsonw) time(k string, t time.Time) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = t.UTC().AppendFormat(w.b, jsonTimeLayout)
	w.b = append(w.b, '"')
}
func (w *jsonw) nstr(k string, v *string) {
	if v == nil {
		w.key(k)
		w.b = append(w.b, "null"...)
		return
	}
	w.str(k, *v)
}
func (w *jsonw) nf64(k string, v *float64) {
	if v == nil {
		w.key(k)
		w.b = append(w.b, "null"...)
		return
	}
	w.f64(k, *v)
}
func (w *jsonw) nu8(k string, v *uint8) {
	if v == nil {
		w.key(k)
		w.b = append(w.b, "null"...)
		return
	}
	w.u64(k, uint64(*v))
}
func (w *jsonw) strs(k string, vs []string) {
	w.key(k)
	if vs == nil {
		vs = []string{} // an Array column takes [], never null
	}
	w.b = jsonenc.AppendStrings(w.b, vs)
}
func (w *jsonw) f64s(k string, vs []float64) {
	w.key(k)
	w.b = append(w.b, '[')
	for i, v := range vs {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendFloat(w.b, v)
	}
	w.b = append(w.b, ']')
}
func (w *jsonw) done() []byte { return append(w.b, '}') }

func appendFloat(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func boolPtr(p *bool) *uint8 {
	if p == nil {
		return nil
	}
	var v uint8
	if *p {
		v = 1
	}
	return &v
}
