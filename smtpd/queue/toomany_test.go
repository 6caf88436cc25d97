package queue

import (
	"slices"
	"testing"
	"time"
)

// RFC 5321 §4.5.3.1.10: a server that answers 452 4.5.3 beyond its
// recipient limit gets the accepted ones delivered and the rest at once
// in new transactions on the same connection, not after the retry wait,
// and nobody's delivery counts as failed.
func TestTooManyRecipientsSentAtOnce(t *testing.T) {
	w := newWorld(t)
	f := newFakeMTA(t, []string{"8BITMIME"}, 2)
	w.opts.Routes = map[string]string{"b.test": f.addr}
	// A retry would come only after an hour: the test's wait is far
	// shorter, so the rest must go in the same attempt.
	w.opts.RetryMin = time.Hour
	w.opts.RetryMax = time.Hour
	q := w.open(true)
	rcpts := []string{"r1@b.test", "r2@b.test", "r3@b.test", "r4@b.test", "r5@b.test"}
	id := w.submit(q, rcpts...)
	txs := f.waitRcpts(5)
	waitEmpty(t, q)
	var got []string
	for k, tx := range txs {
		if tx.conn != 1 {
			t.Errorf("transaction %d on connection %d, want all on the first", k, tx.conn)
		}
		if len(tx.rcpts) > 2 {
			t.Errorf("transaction %d has %d recipients, over the server's limit", k, len(tx.rcpts))
		}
		got = append(got, tx.rcpts...)
	}
	if len(txs) != 3 || !slices.Equal(got, rcpts) {
		t.Errorf("transactions %+v, want 3 carrying %q once each in order", txs, rcpts)
	}
	w.wantLog(`msg="delivery attempt"`, "id="+id, "rcpts=5", "sent=5", "deferred=0", "failed=0")
	if n := len(w.inbox("alice@a.test")); n != 0 {
		t.Errorf("alice got %d notifications", n)
	}
}
