package pop3d

import (
	"maps"
	"testing"
	"time"
)

// Slowloris (issue 5 point 6): the read deadline is set once per command
// line (Options.Timeout, RFC 1939 §3's autologout timer), not moved by
// each octet, so a client that drips one octet at a time and never ends
// its line is cut about Timeout after the line began, however steady the
// drip. The store does not change.
func TestSlowDripCommandLineDropped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *Options) { o.Timeout = 300 * time.Millisecond })
	e.deliver(threeMessages...)
	before := e.diskFiles()
	c := e.dial()
	c.login()
	c.conn.SetDeadline(time.Now().Add(15 * time.Second))
	start := time.Now()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		buf := make([]byte, 512)
		for {
			if _, err := c.conn.Read(buf); err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(50 * time.Millisecond) // a sixth of Timeout
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-closed:
			t.Logf("dropped after %v of drip (Timeout 300ms)", time.Since(start))
			e.waitSessionsEnded(1)
			if end := e.logs.find("pop3 session end"); end[0]["reason"] != "timeout" {
				t.Errorf("session end %v", end[0])
			}
			if after := e.diskFiles(); !maps.Equal(after, before) {
				t.Errorf("store changed: %v", sortedKeys(after))
			}
			return
		case <-tick.C:
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("slow-drip client still connected after %v", time.Since(start))
		}
		c.conn.Write([]byte{"DELE 1 STAT LIST"[i%16]})
	}
}
