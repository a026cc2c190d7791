package main

import (
	"regexp"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// exportSchedulingLatency adds the runtime's scheduling latency to what
// /metrics exports (go_sched_latencies_seconds: how long goroutines
// waited to run once runnable). When every core is busy, with the
// store's merges running beside the consumers and the requests, a
// request's tail is mostly this wait rather than its own work, and
// `bench ingest` reports it beside its latencies. The default registry is
// the process's, so runServe does this once, beside the runtime's other
// settings; tests that run several servers at once share it.
var exportSchedulingLatency = sync.OnceFunc(func() {
	prometheus.Unregister(collectors.NewGoCollector())
	prometheus.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/sched/latencies:seconds$`)})))
})
