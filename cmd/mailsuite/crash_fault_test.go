package main

// Storage faults during delivery (issue 5, point 1), through the real
// binary: a full disk (a small tmpfs under data_dir/mail) gives 452 4.3.1,
// a directory the server may not write gives 451 4.3.0; the store stays
// whole (the crash harness's checks: no partial file, every acknowledged
// message intact, the indexes consistent), nothing is left in tmp/, and
// delivery works again once the fault is gone. The store's own fault seam
// (mailbox/safeio.go) is tested in package mailbox.

import (
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"
)

// faultHarness is a crash harness whose server is not killed: the
// workload is driven step by step.
func faultHarness(t *testing.T, extra string, before func(in *instance)) *crashHarness {
	t.Helper()
	in := newInstance(t, `[auth]
allow_plaintext = true
failure_delay = "0s"
`+extra)
	if before != nil {
		before(in)
	}
	for _, u := range crashUsers {
		in.addUser(u, crashPassword(u))
	}
	h := &crashHarness{t: t, rng: rand.New(rand.NewPCG(1, 2)), in: in, m: newCrashModel()}
	in.start()
	return h
}

// deliver sends one new message to user on a fresh SMTP session and
// returns the reply to the end of DATA (nil for 250).
func (h *crashHarness) deliver(user string) (string, *smtp.SMTPError) {
	h.t.Helper()
	id := h.nextID("fault")
	h.m.attempt(id, crashFolderName(user, "INBOX"), true)
	c, err := smtp.Dial(h.in.addr["smtp"])
	if err != nil {
		h.t.Fatal(err)
	}
	defer c.Close()
	err = c.SendMail("sender@crash.test", []string{user}, strings.NewReader(string(crashMessage(id))))
	if err == nil {
		h.m.ack(id, 0, 0, 0)
		return id, nil
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		h.t.Fatalf("delivery of %s: %v", id, err)
	}
	return id, se
}

// checkStore is the crash harness's check of the disk alone, plus an empty
// tmp/ everywhere.
func (h *crashHarness) checkStore(when string) {
	h.t.Helper()
	seen, folders, errs := scanDisk(h.in.dataDir, crashUsers, h.m)
	errs = append(errs, h.m.checkPresence(seen, false)...)
	for _, df := range folders {
		if df.tmp != 0 {
			errs = append(errs, df.name+": files left in tmp/")
		}
	}
	h.fail(when, errs)
}

func TestDiskFullDuringDelivery(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs under data_dir/mail (the store's ENOSPC path is also tested through its fault seam in package mailbox)")
	}
	var mailDir string
	h := faultHarness(t, "", func(in *instance) {
		mailDir = filepath.Join(in.dataDir, "mail")
		if err := os.MkdirAll(mailDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", mailDir).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs here (%v: %s); this test needs a system where root may mount", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("umount", mailDir).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v %s", mailDir, err, out)
			}
		})
	})

	// Fill it up to the last byte: every answer is 250 until a message
	// does not fit, then 452 4.3.1 (smaller ones may still fit), until
	// nothing does.
	delivered, refused, inARow := 0, 0, 0
	for i := 0; i < 3000 && inARow < 10; i++ {
		_, se := h.deliver(crashUsers[i%len(crashUsers)])
		if se == nil {
			delivered++
			inARow = 0
			continue
		}
		refused++
		inARow++
		if se.Code != 452 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
			t.Errorf("on a full disk: %d %v %s, want 452 4.3.1", se.Code, se.EnhancedCode, se.Message)
		}
	}
	if inARow < 10 {
		t.Fatalf("3000 messages and the 1 MiB tmpfs is not full (%d delivered)", delivered)
	}
	t.Logf("%d messages delivered and %d refused with 452 4.3.1 until the disk was full", delivered, refused)
	h.checkStore("disk full, after the refusals")

	// APPEND on the full disk: NO, the session goes on.
	c := h.imapLoginCrash(crashUsers[0])
	if c == nil {
		t.Fatal("IMAP login on a full disk failed")
	}
	msg := crashMessage("append-on-full-disk")
	h.m.attempt("append-on-full-disk", crashFolderName(crashUsers[0], "Archive"), false)
	cmd := c.Append("Archive", int64(len(msg)), nil)
	cmd.Write(msg)
	cmd.Close()
	if _, err := cmd.Wait(); err == nil {
		t.Error("APPEND on a full disk succeeded")
	} else if ie, ok := err.(*imap.Error); !ok || ie.Type != imap.StatusResponseTypeNo {
		t.Errorf("APPEND on a full disk: %v, want NO", err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Errorf("the IMAP session did not survive the failed APPEND: %v", err)
	}
	c.Close()
	h.checkStore("disk full, after the APPEND")

	// Room again: delivery works and everything checks out over IMAP too.
	if out, err := exec.Command("mount", "-o", "remount,size=64m", mailDir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	for _, u := range crashUsers {
		if _, se := h.deliver(u); se != nil {
			t.Errorf("delivery with room again: %d %s", se.Code, se.Message)
		}
	}
	h.verify("after the disk had room again")
	h.checkStore("after the disk had room again")
}

func TestUnwritableMaildirDuringDelivery(t *testing.T) {
	// Root may write anywhere; run the server as nobody so that the
	// permission bits count.
	extra := ""
	var open func(*instance)
	if os.Geteuid() == 0 {
		nobody(t)
		extra = "[server]\nuser = \"nobody\"\n"
		open = func(in *instance) { openUp(t, in) }
	}
	h := faultHarness(t, extra, open)
	victim, other := crashUsers[0], crashUsers[1]
	for _, u := range crashUsers {
		if _, se := h.deliver(u); se != nil {
			t.Fatalf("first delivery to %s: %d %s", u, se.Code, se.Message)
		}
	}
	local, domain, _ := strings.Cut(victim, "@")
	inbox := filepath.Join(h.in.dataDir, "mail", domain, local)

	for _, sub := range []string{"new", "tmp"} {
		dir := filepath.Join(inbox, sub)
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		_, se := h.deliver(victim)
		if se == nil || se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) {
			t.Errorf("%s/ not writable: %v, want 451 4.3.0", sub, se)
		}
		if _, se := h.deliver(other); se != nil {
			t.Errorf("another user's delivery while %s's %s/ is not writable: %d %s", victim, sub, se.Code, se.Message)
		}
		h.checkStore(sub + "/ not writable")
		if err := os.Chmod(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, se := h.deliver(victim); se != nil {
		t.Errorf("delivery once writable again: %d %s", se.Code, se.Message)
	}
	h.verify("after the directories were writable again")
	h.checkStore("after the directories were writable again")
}
