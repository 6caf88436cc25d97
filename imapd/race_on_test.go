//go:build race

package imapd

// raceEnabled: the race detector slows the server several times over, so
// tests that wait for a fixed server deadline run only in the plain pass
// (.ci/run runs both).
const raceEnabled = true
