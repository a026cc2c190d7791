//go:build race

package projections

// raceDetector: the test binary runs under -race, where single-threaded
// property tests cost about six times as much and the detector has nothing
// to find in them.
const raceDetector = true
