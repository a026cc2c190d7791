package projections

import (
	"expvar"

	"github.com/prometheus/client_golang/prometheus"
)

// Badger counts what it writes (its expvar counters, one set per
// process). Exported, they show the store's write amplification: what
// the projections commit against what the store rewrites to keep its
// levels sorted, which is what grows with a store and what the CPU of a
// long load goes to (docs/operations.md, "Where a write's time goes").
var storeWrittenDesc = prometheus.NewDesc("learnstream_store_written_bytes_total",
	"Bytes the projections store wrote, by stage: commit (the transactions' entries), memtable (entries into the LSM tree, values in the value log excluded), value_log (values above the value threshold), compaction (tables the compactions wrote, compressed).",
	[]string{"stage"}, nil)

type storeWrites struct{}

func (storeWrites) Describe(ch chan<- *prometheus.Desc) { ch <- storeWrittenDesc }

func (storeWrites) Collect(ch chan<- prometheus.Metric) {
	for stage, n := range WrittenBytes() {
		ch <- prometheus.MustNewConstMetric(storeWrittenDesc, prometheus.CounterValue, n, stage)
	}
}

// WrittenBytes returns the bytes the store has written in this process,
// by stage (learnstream_store_written_bytes_total): "commit", "memtable",
// "value_log" and "compaction". Benchmarks take the difference over a
// run.
func WrittenBytes() map[string]float64 {
	return map[string]float64{
		"commit":     expvarSum("badger_write_bytes_user"),
		"memtable":   expvarSum("badger_write_bytes_l0"),
		"value_log":  expvarSum("badger_write_bytes_vlog"),
		"compaction": expvarSum("badger_write_bytes_compaction"),
	}
}

// expvarSum is the value of the expvar counter name, or the sum of a
// map of them (per level); 0 before Badger has set it.
func expvarSum(name string) float64 {
	switch v := expvar.Get(name).(type) {
	case *expvar.Int:
		return float64(v.Value())
	case *expvar.Map:
		var sum float64
		v.Do(func(kv expvar.KeyValue) {
			if n, ok := kv.Value.(*expvar.Int); ok {
				sum += float64(n.Value())
			}
		})
		return sum
	}
	return 0
}

func init() { prometheus.MustRegister(storeWrites{}) }
