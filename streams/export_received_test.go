package streams

// ShareReceived turns the sharing of received records among the
// subscriptions of the process on or off (benchmarks: before and after
// in one run).
func ShareReceived(on bool) { records.off.Store(!on) }
