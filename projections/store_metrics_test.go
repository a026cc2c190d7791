package projections

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// What the store writes shows in learnstream_store_written_bytes_total:
// committed entries as commit and memtable bytes, a value above the
// value threshold as value-log bytes.
func TestStoreWrittenBytes(t *testing.T) {
	store, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(storeWrites{})
	written := func() map[string]float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
		if len(out) != 4 {
			t.Fatalf("stages %v", out)
		}
		return out
	}
	before := written()
	big := bytes.Repeat([]byte("x"), int(valueThreshold)+1)
	if err := store.updateTxn(func(txn *badger.Txn) error {
		for i := range 100 {
			if err := txn.Set(fmt.Appendf(nil, "k%03d", i), []byte("a small value")); err != nil {
				return err
			}
		}
		return txn.Set([]byte("big"), big)
	}); err != nil {
		t.Fatal(err)
	}
	after := written()
	for _, stage := range []string{"commit", "memtable"} {
		if after[stage]-before[stage] < float64(100*len("k000a small value")) {
			t.Errorf("%s: %v bytes more after 100 entries", stage, after[stage]-before[stage])
		}
	}
	if got := after["value_log"] - before["value_log"]; got < float64(len(big)) {
		t.Errorf("value_log: %v bytes more after a %d-byte value", got, len(big))
	}
}
