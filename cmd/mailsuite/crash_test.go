package main

// The durability harness of issue 5, point 1: the real binary receives
// mail over several concurrent SMTP sessions while IMAP clients APPEND, set
// flags and expunge; it is killed with SIGKILL at a random moment,
// restarted, and checked:
//
//   - right after the kill, on disk: every file in new/ and cur/ is a whole
//     message, byte for byte what was sent (its S= and W= sizes match), and
//     every acknowledged message (250, APPEND OK) not expunged is there
//     exactly once, in its folder;
//   - after the restart, over IMAP: the same, with each message's UID the
//     one it had (APPENDUID, earlier FETCHes), no UID ever given to two
//     messages, UIDVALIDITY unchanged, UIDNEXT above every UID seen,
//     acknowledged \Flagged kept and acknowledged expunges gone;
//   - each folder's UID index against the files and the IMAP view.
//
// A trial is one such kill, restart and check; a store lives for
// crashTrialsPerStore trials, then a fresh one starts. Two trials run by
// default; MAILSUITE_CRASH_TRIALS=N runs N (the README gives the command),
// MAILSUITE_CRASH_SEED=S repeats a run's random choices (logged).

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

const (
	crashTrialsPerStore = 5
	crashSMTPSessions   = 4
	// The kill comes this long after the workload starts, uniformly.
	crashKillMin = 150 * time.Millisecond
	crashKillMax = 2500 * time.Millisecond
)

var crashUsers = []string{"u0@example.org", "u1@example.org", "u2@example.org"}

func crashPassword(user string) string { return "password-" + user }

func TestCrashTrials(t *testing.T) {
	trials := 2
	if v := os.Getenv("MAILSUITE_CRASH_TRIALS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("MAILSUITE_CRASH_TRIALS=%q: want a positive number", v)
		}
		trials = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("MAILSUITE_CRASH_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("MAILSUITE_CRASH_SEED=%q: want a number", v)
		}
		seed = n
	}
	t.Logf("seed %d (MAILSUITE_CRASH_SEED=%d repeats the kill times and recipients; the timing still varies)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	var total crashStats
	began := time.Now()
	for done := 0; done < trials; {
		h := newCrashHarness(t, rng)
		for i := 0; i < crashTrialsPerStore && done < trials; i++ {
			h.trial()
			done++
			total.trials++
		}
		h.finish()
		total.add(h)
	}
	t.Logf("%d trials (SIGKILL, restart, check) in %s: %d messages acknowledged over SMTP and %d by APPEND, %d flag changes and %d expunges acknowledged; %d unacknowledged messages found stored (allowed); every check passed",
		total.trials, time.Since(began).Round(time.Second), total.smtp, total.append, total.flags, total.expunges, total.unacked)
}

type crashStats struct{ trials, smtp, append, flags, expunges, unacked int }

func (s *crashStats) add(h *crashHarness) {
	s.smtp += h.m.ackedSMTP
	s.append += h.m.ackedAppend
	s.flags += h.m.ackedFlags
	s.expunges += h.m.ackedExpunges
	s.unacked += h.m.unackedFound
}

// crashHarness is one store and the server on it.
type crashHarness struct {
	t   *testing.T
	rng *rand.Rand
	in  *instance
	m   *crashModel
	n   int // trials run on this store
	seq atomic.Int64
}

func newCrashHarness(t *testing.T, rng *rand.Rand) *crashHarness {
	t.Helper()
	in := newInstance(t, `[auth]
allow_plaintext = true
failure_delay = "0s"
[limits]
max_connections_per_ip = 500
`)
	stablePorts(t, in) // it restarts under heavy connection churn
	for _, u := range crashUsers {
		in.addUser(u, crashPassword(u))
	}
	h := &crashHarness{t: t, rng: rng, in: in, m: newCrashModel()}
	in.start()
	return h
}

// trial runs the workload, kills the server at a random moment, checks
// the store on disk, restarts the server and checks everything.
func (h *crashHarness) trial() {
	t := h.t
	t.Helper()
	h.n++
	killAfter := crashKillMin + time.Duration(h.rng.Int64N(int64(crashKillMax-crashKillMin)))

	var wg sync.WaitGroup
	for i := range crashSMTPSessions {
		seed := h.rng.Uint64()
		wg.Add(1)
		go func() { defer wg.Done(); h.smtpWorker(i, seed) }()
	}
	wg.Add(3)
	go func() { defer wg.Done(); h.appendWorker(crashUsers[0]) }()
	for _, u := range crashUsers[1:] {
		seed := h.rng.Uint64()
		go func() { defer wg.Done(); h.mutateWorker(u, seed) }()
	}

	time.Sleep(killAfter)
	h.in.signal(syscall.SIGKILL)
	select {
	case <-h.in.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not die of SIGKILL")
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(60 * time.Second):
		t.Fatal("workers still running a minute after the kill")
	}
	h.fail("while the workload ran", h.m.takeErrors())

	// On disk, before anything repairs it.
	seen, _, errs := scanDisk(h.in.dataDir, crashUsers, h.m)
	errs = append(errs, h.m.checkPresence(seen, false)...)
	h.fail(fmt.Sprintf("trial %d, on disk right after SIGKILL at %s", h.n, killAfter), errs)

	h.in.start()
	h.verify(fmt.Sprintf("trial %d, after the restart (killed at %s)", h.n, killAfter))
}

// finish stops the server cleanly, checks once more and removes the store.
func (h *crashHarness) finish() {
	h.t.Helper()
	if err := h.in.stop(); err != nil {
		h.t.Errorf("clean stop: %v", err)
	}
	seen, _, errs := scanDisk(h.in.dataDir, crashUsers, h.m)
	errs = append(errs, h.m.checkPresence(seen, false)...)
	h.fail("after a clean stop", errs)
	os.RemoveAll(h.in.dataDir)
}

func (h *crashHarness) fail(when string, errs []string) {
	h.t.Helper()
	if err := errorsJoin(errs); err != nil {
		h.t.Fatalf("%s:\n%v\nend of the server log:\n%s", when, err, crashLogTail(h.in))
	}
}

// verify lists every folder over IMAP, checks it against the model and
// the disk, and the index against both.
func (h *crashHarness) verify(when string) {
	t := h.t
	t.Helper()
	seen := map[string][]found{}
	type view struct {
		uidValidity, uidNext uint32
		uids                 map[uint32]string
	}
	views := map[string]*view{}
	var errs []string
	for _, user := range crashUsers {
		c, err := imapclient.DialInsecure(h.in.addr["imap"], nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login(user, crashPassword(user)).Wait(); err != nil {
			t.Fatalf("%s: login %s: %v", when, user, err)
		}
		for _, folder := range []string{"INBOX", "Archive"} {
			name := crashFolderName(user, folder)
			sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
			if err != nil {
				t.Fatalf("%s: EXAMINE %s: %v", when, name, err)
			}
			v := &view{uidValidity: sel.UIDValidity, uidNext: uint32(sel.UIDNext), uids: map[uint32]string{}}
			views[name] = v
			if max := h.m.maxUID(name); max > 0 && v.uidNext <= max {
				errs = append(errs, fmt.Sprintf("%s: UIDNEXT %d is not above UID %d seen before", name, v.uidNext, max))
			}
			if sel.NumMessages == 0 {
				continue
			}
			section := &imap.FetchItemBodySection{Peek: true}
			msgs, err := c.Fetch(crashAll(), &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
			if err != nil {
				t.Fatalf("%s: FETCH %s: %v", when, name, err)
			}
			for _, msg := range msgs {
				body := msg.FindBodySection(section)
				id, ok := crashID(body)
				where := fmt.Sprintf("%s UID %d", name, msg.UID)
				if !ok {
					errs = append(errs, where+": no X-Crash-Id")
					continue
				}
				h.m.observe(name, v.uidValidity, uint32(msg.UID), id)
				v.uids[uint32(msg.UID)] = id
				var flags []string
				for _, f := range msg.Flags {
					flags = append(flags, string(f))
				}
				seen[id] = append(seen[id], found{folder: name, uid: uint32(msg.UID), flags: flags, where: where})
				h.m.mu.Lock()
				s := h.m.msgs[id]
				h.m.mu.Unlock()
				if s != nil {
					if p := crashCheckBytes(body, id, s.viaSMTP); p != "" {
						errs = append(errs, where+": "+p)
					}
				}
			}
		}
		c.Close()
	}
	errs = append(errs, h.m.takeErrors()...)

	// The disk and the indexes, with the server idle.
	diskSeen, folders, derrs := scanDisk(h.in.dataDir, crashUsers, h.m)
	errs = append(errs, derrs...)
	for _, df := range folders {
		v := views[df.name]
		if v == nil {
			if len(df.files) > 0 {
				errs = append(errs, fmt.Sprintf("%s: %d files in a folder nobody uses", df.name, len(df.files)))
			}
			continue
		}
		errs = append(errs, checkIndex(df, v.uidValidity, v.uidNext, v.uids)...)
	}
	for id, fs := range diskSeen {
		if len(fs) != len(seen[id]) {
			errs = append(errs, fmt.Sprintf("%s: %d files on disk, %d messages over IMAP", id, len(fs), len(seen[id])))
		}
	}
	errs = append(errs, h.m.checkPresence(seen, true)...)
	h.fail(when, errs)
}

// nextID names a new message: trial, worker kind and a sequence number.
func (h *crashHarness) nextID(kind string) string {
	return fmt.Sprintf("t%d-%s-%d", h.n, kind, h.seq.Add(1))
}

// smtpWorker delivers messages on one SMTP session, to random users,
// until the server dies.
func (h *crashHarness) smtpWorker(n int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	c, err := smtp.Dial(h.in.addr["smtp"])
	if err != nil {
		return
	}
	defer c.Close()
	for {
		user := crashUsers[rng.IntN(len(crashUsers))]
		id := h.nextID(fmt.Sprintf("smtp%d", n))
		msg := crashMessage(id)
		h.m.attempt(id, crashFolderName(user, "INBOX"), true)
		if c.Mail("sender@crash.test", nil) != nil || c.Rcpt(user, nil) != nil {
			return
		}
		w, err := c.Data()
		if err != nil {
			return
		}
		if _, err := w.Write(msg); err != nil {
			return
		}
		if err := w.Close(); err != nil {
			var se *smtp.SMTPError
			if errors.As(err, &se) && se.Code/100 == 5 {
				h.m.violation("%s: refused with %d %s", id, se.Code, se.Message)
			}
			return
		}
		h.m.ack(id, 0, 0, 0)
	}
}

// imapLoginCrash logs user in over plaintext IMAP (loopback, allowed).
func (h *crashHarness) imapLoginCrash(user string) *imapclient.Client {
	c, err := imapclient.DialInsecure(h.in.addr["imap"], nil)
	if err != nil {
		return nil
	}
	if err := c.Login(user, crashPassword(user)).Wait(); err != nil {
		c.Close()
		return nil
	}
	return c
}

// appendWorker APPENDs messages to user's Archive until the server dies.
func (h *crashHarness) appendWorker(user string) {
	c := h.imapLoginCrash(user)
	if c == nil {
		return
	}
	defer c.Close()
	folder := crashFolderName(user, "Archive")
	for {
		id := h.nextID("append")
		msg := crashMessage(id)
		h.m.attempt(id, folder, false)
		before := h.m.maxUID(folder)
		cmd := c.Append("Archive", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
		if _, err := cmd.Write(msg); err != nil {
			return
		}
		if err := cmd.Close(); err != nil {
			return
		}
		data, err := cmd.Wait()
		if err != nil {
			return
		}
		if data.UID == 0 {
			h.m.violation("%s: APPEND OK without APPENDUID", id)
			return
		}
		h.m.ack(id, data.UIDValidity, uint32(data.UID), before)
	}
}

// mutateWorker, on user's INBOX, lists the messages, flags some and
// expunges some, until the server dies.
func (h *crashHarness) mutateWorker(user string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	c := h.imapLoginCrash(user)
	if c == nil {
		return
	}
	defer c.Close()
	folder := crashFolderName(user, "INBOX")
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		return
	}
	header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"X-Crash-Id"}, Peek: true}
	for {
		if err := c.Noop().Wait(); err != nil {
			return
		}
		if mb := c.Mailbox(); mb == nil || mb.NumMessages == 0 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		msgs, err := c.Fetch(crashAll(), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{header}}).Collect()
		if err != nil {
			return
		}
		type entry struct {
			uid imap.UID
			id  string
		}
		var list []entry
		for _, msg := range msgs {
			id, ok := crashID(msg.FindBodySection(header))
			if !ok {
				h.m.violation("%s UID %d: no X-Crash-Id in its header", folder, msg.UID)
				continue
			}
			h.m.observe(folder, sel.UIDValidity, uint32(msg.UID), id)
			list = append(list, entry{msg.UID, id})
		}
		pick := func(n int) (imap.UIDSet, []string) {
			var set imap.UIDSet
			var ids []string
			for range n {
				e := list[rng.IntN(len(list))]
				if !slices.Contains(ids, e.id) {
					set.AddNum(e.uid)
					ids = append(ids, e.id)
				}
			}
			return set, ids
		}
		if len(list) == 0 {
			continue
		}
		set, ids := pick(1 + rng.IntN(3))
		h.m.mark(ids, false, false)
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
			return
		}
		h.m.mark(ids, false, true)
		if rng.IntN(3) != 0 {
			continue
		}
		set, ids = pick(1 + rng.IntN(2))
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			return
		}
		h.m.mark(ids, true, false)
		if err := c.UIDExpunge(set).Close(); err != nil {
			return
		}
		h.m.mark(ids, true, true)
	}
}

// crashAll is the sequence set 1:*.
func crashAll() imap.SeqSet {
	var s imap.SeqSet
	s.AddRange(1, 0)
	return s
}

// crashLogTail is the end of the server log, for a failure message.
func crashLogTail(in *instance) string {
	s := in.log.String()
	lines := strings.Split(s, "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}
