// Package projections holds learnstream's read models in Badger and the
// queries over them.
//
// A projection is a consumer whose state and input offsets are written in
// one Badger transaction: after a crash it resumes exactly after the last
// event whose effect is durable, so no event is lost or applied twice.
package projections
