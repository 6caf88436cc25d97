package queue

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The main path: one message to a domain's MX, over STARTTLS with a
// certificate valid for the MX name, delivered byte for byte and then
// gone from the queue.
func TestDeliverByMX(t *testing.T) {
	w := newWorld(t)
	cert, pool := testCert(t, "mx.b.test")
	r := newRemote(t, remoteOpts{tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
	w.to("b.test", r)
	w.opts.RootCAs = pool
	q := w.open(true)
	msg := testMsg("alice@a.test", []string{"bob@b.test", "carol@b.test"})
	id, err := q.Submit(t.Context(), Message{From: "alice@a.test", User: "alice@a.test",
		Rcpts: []string{"bob@b.test", "carol@b.test"}}, strings.NewReader(msg), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := r.waitReceived(1)
	waitEmpty(t, q)
	if len(got) != 1 {
		t.Fatalf("remote got %d messages, want one for both recipients", len(got))
	}
	m := got[0]
	if m.from != "alice@a.test" || !slices.Equal(m.rcpts, []string{"bob@b.test", "carol@b.test"}) || !m.tls {
		t.Errorf("envelope %q -> %q, tls %v", m.from, m.rcpts, m.tls)
	}
	if m.data != msg {
		t.Errorf("content changed:\n%q\nwant\n%q", m.data, msg)
	}
	w.wantLog(`msg="delivery attempt"`, "id="+id, "dest=b.test", "rcpts=2", "sent=2", "deferred=0", "host=mx.b.test", "tls=verified")
	for _, ext := range []string{".env", ".msg"} {
		if _, err := os.Stat(filepath.Join(w.dir, "queue", "mail", id+ext)); !os.IsNotExist(err) {
			t.Errorf("%s%s still on disk (%v)", id, ext, err)
		}
	}
	if conns, _, _ := r.stats(); conns != 1 {
		t.Errorf("%d connections, want 1", conns)
	}
}
