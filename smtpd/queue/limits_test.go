package queue

import (
	"fmt"
	"testing"
	"time"
)

// Messages queued for one domain share a connection: one connection, one
// transaction per message (issue: "one connection carries many
// recipients"; and many messages).
func TestConnectionReuse(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	w.opts.MaxConnectionsPerHost = 1
	q := w.open(false)
	for i := range 10 {
		w.submit(q, fmt.Sprintf("user%d@b.test", i))
	}
	q.Start()
	r.waitReceived(10)
	waitEmpty(t, q)
	if conns, _, mails := r.stats(); conns != 1 || mails != 10 {
		t.Errorf("%d connections and %d transactions, want 1 and 10", conns, mails)
	}
}

// MaxMessagesPerConn closes a connection after that many messages.
func TestMaxMessagesPerConn(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	w.opts.MaxConnectionsPerHost = 1
	w.opts.MaxMessagesPerConn = 2
	q := w.open(false)
	for i := range 5 {
		w.submit(q, fmt.Sprintf("user%d@b.test", i))
	}
	q.Start()
	r.waitReceived(5)
	waitEmpty(t, q)
	if conns, _, _ := r.stats(); conns != 3 {
		t.Errorf("%d connections for 5 messages at 2 per connection, want 3", conns)
	}
}

// A connection the remote closed while idle is replaced without counting
// as a failure of the next message.
func TestStaleConnectionReplaced(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	w.opts.MaxConnectionsPerHost = 1
	q := w.open(false)
	w.submit(q, "a@b.test")
	w.submit(q, "b@b.test")
	// The remote hangs up at the second MAIL on the first connection,
	// as a server does that closes idle connections.
	r.onMail = func(string) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.mails == 2 {
			return &hangup{}
		}
		return nil
	}
	q.Start()
	r.waitReceived(2)
	waitEmpty(t, q)
	if conns, _, _ := r.stats(); conns != 2 {
		t.Errorf("%d connections, want 2", conns)
	}
	if contains(w.logs.String(), "deferred=1") {
		t.Errorf("a stale connection counted as a failed attempt:\n%s", w.logs.String())
	}
}

// No more than MaxConnectionsPerHost connections to one destination.
func TestPerHostLimit(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	r.dataDelay = 20 * time.Millisecond
	w.opts.MaxConnectionsPerHost = 3
	q := w.open(false)
	for i := range 12 {
		w.submit(q, fmt.Sprintf("user%d@b.test", i))
	}
	q.Start()
	r.waitReceived(12)
	waitEmpty(t, q)
	if _, maxActive, _ := r.stats(); maxActive > 3 || maxActive < 2 {
		t.Errorf("%d connections at once, want 2 or 3 (limit 3)", maxActive)
	}
}

// No more than MaxConnections in all; a busy domain does not starve the
// others.
func TestTotalLimit(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	r.dataDelay = 10 * time.Millisecond
	for _, d := range []string{"b.test", "c.test", "d.test"} {
		w.to(d, r)
	}
	w.opts.MaxConnections = 2
	w.opts.MaxConnectionsPerHost = 2
	q := w.open(false)
	for i := range 10 {
		w.submit(q, fmt.Sprintf("user%d@b.test", i))
	}
	w.submit(q, "x@c.test")
	w.submit(q, "y@d.test")
	q.Start()
	got := r.waitReceived(12)
	waitEmpty(t, q)
	if _, maxActive, _ := r.stats(); maxActive > 2 {
		t.Errorf("%d connections at once, limit 2", maxActive)
	}
	// c.test and d.test are served before b.test's backlog is done.
	pos := map[string]int{}
	for i, m := range got {
		pos[m.rcpts[0]] = i
	}
	if pos["x@c.test"] > 8 || pos["y@d.test"] > 8 {
		t.Errorf("starved: c.test delivered %dth, d.test %dth of 12", pos["x@c.test"]+1, pos["y@d.test"]+1)
	}
}
