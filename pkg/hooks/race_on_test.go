//go:build race

package hooks_test

// raceDetector says the tests run under the race detector, which slows every render about
// tenfold: a test of a time limit means nothing there.
const raceDetector = true
