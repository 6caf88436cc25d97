package imapd

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Two sessions on one folder: what one does, the other learns at its next
// command, with sequence numbers right at every step (RFC 9051 §7.5.1:
// no EXPUNGE during FETCH, STORE or SEARCH).
func TestTwoSessionsOneFolder(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("a", "1\r\n"), simple("b", "2\r\n"), simple("c", "3\r\n"))
	infos, _ := e.folder("INBOX")
	a := e.rawLogin()
	b := e.rawLogin()
	a.ok("s", "SELECT INBOX")
	b.ok("s", "SELECT INBOX")

	b.ok("b1", `STORE 2 +FLAGS (\Flagged)`)
	u := a.ok("a1", "NOOP")
	if want := []string{fmt.Sprintf(`* 2 FETCH (UID %d FLAGS (\Flagged))`, infos[1].UID)}; !slices.Equal(u, want) {
		t.Errorf("A after B's STORE: %q", u)
	}

	b.ok("b2", `STORE 1 +FLAGS.SILENT (\Deleted)`)
	if u := b.ok("b3", "EXPUNGE"); !slices.Equal(u, []string{"* 1 EXPUNGE"}) {
		t.Errorf("B's EXPUNGE: %q", u)
	}
	// A still numbers the gone message 1: FETCH skips it and says so.
	u, tagged := a.cmd("a2", "FETCH 1:3 (UID)")
	want := []string{fmt.Sprintf("* 2 FETCH (UID %d)", infos[1].UID), fmt.Sprintf("* 3 FETCH (UID %d)", infos[2].UID)}
	if !slices.Equal(u, want) || tagged != "a2 OK [EXPUNGEISSUED] Some messages were expunged meanwhile" {
		t.Errorf("A's FETCH during a pending expunge:\n got %q %q\nwant %q", u, tagged, want)
	}
	// SEARCH by sequence number may not expunge either.
	if u := a.ok("a3", "SEARCH ALL"); !slices.Equal(u, []string{"* SEARCH 2 3"}) {
		t.Errorf("A's SEARCH: %q", u)
	}
	if u := a.ok("a4", "NOOP"); !slices.Equal(u, []string{"* 1 EXPUNGE"}) {
		t.Errorf("A's NOOP after B's EXPUNGE: %q", u)
	}
	if u := a.ok("a5", "SEARCH ALL"); !slices.Equal(u, []string{"* SEARCH 1 2"}) {
		t.Errorf("A's SEARCH after the EXPUNGE: %q", u)
	}

	// B appends: A hears EXISTS at its next command.
	msg := simple("d", "4\r\n")
	b.send(fmt.Sprintf("b4 APPEND INBOX {%d}", len(msg)))
	if l := b.line(); l != "+ Ready for literal data" {
		t.Fatalf("%q", l)
	}
	b.send(msg)
	_, _ = b.until("b4")
	if u := a.ok("a6", "CHECK"); !slices.Equal(u, []string{"* 3 EXISTS"}) {
		t.Errorf("A after B's APPEND: %q", u)
	}
	if u := a.ok("a7", "FETCH 3 (BODY.PEEK[])"); len(u) != 1 || u[0] != "* 3 FETCH (BODY[] "+lit(msg)+")" {
		t.Errorf("A's FETCH of the new message: %q", u)
	}
}

// Many sessions change one folder at once; each must keep a coherent
// view (run with -race).
func TestConcurrentSessions(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < 20; i++ {
		e.deliver(simple(fmt.Sprintf("m%d", i), "x\r\n"))
	}
	const workers, rounds = 4, 10
	dial := func() (*imapclient.Client, error) {
		c, err := imapclient.DialInsecure(e.addr, nil)
		if err != nil {
			return nil, err
		}
		if err := c.Login(testUser, testPassword).Wait(); err != nil {
			c.Close()
			return nil, err
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	observers := make([]*imapclient.Client, workers)
	for w := 0; w < workers; w++ {
		obs, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		defer obs.Close()
		observers[w] = obs
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			mut, err := dial()
			if err != nil {
				errs <- err
				return
			}
			defer mut.Close()
			for i := 0; i < rounds; i++ {
				set := imap.SeqSetNum(uint32(1 + (w*5+i)%20))
				if err := mut.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
					errs <- err
					return
				}
				msg := simple(fmt.Sprintf("w%d-%d", w, i), "y\r\n")
				cmd := mut.Append("INBOX", int64(len(msg)), nil)
				cmd.Write([]byte(msg))
				cmd.Close()
				if _, err := cmd.Wait(); err != nil {
					errs <- err
					return
				}
				if err := observers[w].Noop().Wait(); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := uint32(20 + workers*rounds)
	for w, obs := range observers {
		if err := obs.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		if n := obs.Mailbox().NumMessages; n != total {
			t.Errorf("observer %d counts %d messages, want %d", w, n, total)
		}
		msgs, err := obs.Fetch(imap.SeqSet{{Start: 1, Stop: total}}, &imap.FetchOptions{UID: true}).Collect()
		if err != nil || uint32(len(msgs)) != total {
			t.Fatalf("observer %d: FETCH 1:%d gave %d messages, %v", w, total, len(msgs), err)
		}
		for i := 1; i < len(msgs); i++ {
			if msgs[i].SeqNum != uint32(i+1) || msgs[i].UID <= msgs[i-1].UID {
				t.Errorf("observer %d: message %d is seq %d UID %d after UID %d", w, i+1, msgs[i].SeqNum, msgs[i].UID, msgs[i-1].UID)
			}
		}
	}
}

// IDLE hears a delivery, another session's flag change and expunge.
func TestIdle(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(simple("a", "1\r\n"))
	infos, _ := e.folder("INBOX")
	exists := make(chan uint32, 10)
	expunged := make(chan uint32, 10)
	flags := make(chan string, 10)
	c := e.loginOpts(&imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
		Expunge: func(seq uint32) { expunged <- seq },
		Fetch: func(m *imapclient.FetchMessageData) {
			buf, err := m.Collect()
			if err == nil {
				flags <- fmt.Sprintf("%d %d %v", buf.SeqNum, buf.UID, buf.Flags)
			}
		},
	}})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatalf("IDLE: %v", err)
	}
	e.deliver(simple("b", "2\r\n"))
	select {
	case n := <-exists:
		if n != 2 {
			t.Errorf("EXISTS %d, want 2", n)
		}
	case <-time.After(time.Second):
		t.Fatalf("IDLE did not announce a delivery within a second")
	}
	other := e.rawLogin()
	other.ok("s", "SELECT INBOX")
	other.ok("a", `STORE 1 +FLAGS.SILENT (\Answered)`)
	select {
	case f := <-flags:
		if want := fmt.Sprintf("1 %d [\\Answered]", infos[0].UID); f != want {
			t.Errorf("FETCH during IDLE %q, want %q", f, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("IDLE did not announce a flag change")
	}
	other.ok("b", `STORE 1 +FLAGS.SILENT (\Deleted)`)
	other.ok("c", `EXPUNGE`)
	select {
	case s := <-expunged:
		if s != 1 {
			t.Errorf("EXPUNGE %d during IDLE, want 1", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("IDLE did not announce an expunge")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("IDLE end: %v", err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if n := c.Mailbox().NumMessages; n != 1 {
		t.Errorf("client counts %d messages, want 1", n)
	}
}

// The autologout timer (RFC 9051 §5.4) ends an idle session with BYE.
func TestAutologout(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.IdleTimeout = 100 * time.Millisecond })
	r := e.rawLogin()
	r.ok("a", "SELECT INBOX")
	r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l := r.line(); l != "* BYE Autologout; idle for too long" {
		t.Errorf("got %q", l)
	}
	r.expectClosed()
	e.waitLog("autologout", 1)
	e.waitLog("session end", 1)
}

// A selected folder deleted by another session: its messages are
// announced expunged, then the session ends with BYE.
func TestSelectedFolderDeleted(t *testing.T) {
	e := newEnv(t, nil)
	a := e.rawLogin()
	a.ok("c", "CREATE Tmp")
	msg := simple("t", "x\r\n")
	a.send(fmt.Sprintf("p APPEND Tmp {%d}", len(msg)))
	a.line()
	a.send(msg)
	a.until("p")
	a.ok("s", "SELECT Tmp")
	b := e.rawLogin()
	b.ok("d", "DELETE Tmp")
	if u := a.ok("n", "NOOP"); len(u) != 1 || u[0] != "* 1 EXPUNGE" {
		t.Errorf("NOOP after the folder was deleted: %q", u)
	}
	a.send("m NOOP")
	if l := a.line(); l != "* BYE Selected mailbox was deleted or renamed" {
		t.Errorf("got %q", l)
	}
	a.expectClosed()
}
