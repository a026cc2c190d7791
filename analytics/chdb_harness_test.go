package analytics

import (
	"testing"

	"github.com/learnstream/learnstream/analytics/chdbtest"
)

// chdbSession is a chdbtest session that also takes the sink's rows.
type chdbSession struct{ *chdbtest.Session }

// startChDB starts the harness, or skips (fails under
// LEARNSTREAM_REQUIRE_SERVICES=1) when no chDB python is configured.
func startChDB(t testing.TB) *chdbSession { return &chdbSession{chdbtest.Start(t)} }

// Insert writes rows as JSONEachRow, one request per table and chunk.
func (s *chdbSession) Insert(rows []Row) error {
	const chunk = 8 << 20
	bufs := map[string][]byte{}
	cols := map[string][]string{}
	var order []string
	flush := func(table string) error {
		if len(bufs[table]) == 0 {
			return nil
		}
		err := s.InsertJSON(table, cols[table], bufs[table])
		bufs[table] = bufs[table][:0]
		return err
	}
	for _, r := range rows {
		t := r.Table()
		if _, ok := cols[t]; !ok {
			cols[t] = r.Columns()
			order = append(order, t)
		}
		b := r.AppendJSON(bufs[t])
		bufs[t] = append(b, '\n')
		if len(bufs[t]) >= chunk {
			if err := flush(t); err != nil {
				return err
			}
		}
	}
	for _, t := range order {
		if err := flush(t); err != nil {
			return err
		}
	}
	return nil
}
