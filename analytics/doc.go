// Package analytics keeps ClickHouse current for BI analysts.
//
// It owns three things:
//
//   - the schema: versioned SQL migrations embedded in the binary and applied
//     idempotently by Migrate (fact tables, catalog dimensions, rollups kept
//     current by materialised views);
//   - the row encoders: pure functions that flatten one event (an accepted
//     xAPI statement, a recommendation, a mastery or difficulty update, a
//     catalog entity) into rows, pseudonymising learners by default;
//   - the sink side: Sink, the batch handler of the analytics role (it
//     encodes events into a Batcher bounded by rows and bytes, and writes a
//     batch only whole), and a ClickHouseWriter that inserts batches over
//     the native protocol with retries.
//
// Every table is replay-safe: a fact is keyed by its own id in a
// ReplacingMergeTree and every rollup state is idempotent, so the sink may
// deliver an event any number of times (at-least-once transport, replays
// from offset 0) without changing any answer. docs/analytics.md documents
// the tables and the analysts' query cookbook; the cookbook is executed by
// the tests on the real ClickHouse engine (chDB).
package analytics
