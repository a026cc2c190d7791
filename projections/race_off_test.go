//go:build !race

package projections

const raceDetector = false
