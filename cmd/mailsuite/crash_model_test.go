package main

// The crash harness's model (crash_test.go drives it): every message the
// workload tried to store, what the server acknowledged, and every UID seen,
// and the checks made against it after each SIGKILL and restart.

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// crashMessage is the message with the given id: a few header fields that
// carry the id, and a body of pseudo-random text lines (some starting with
// a dot) whose length depends on the id, mostly up to 20 KB, one in twenty
// up to 500 KB. It is regenerated to check the stored bytes.
func crashMessage(id string) []byte {
	h := fnv.New64a()
	h.Write([]byte(id))
	seed := h.Sum64()
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	size := 300 + r.IntN(20_000)
	if r.IntN(20) == 0 {
		size = 200_000 + r.IntN(300_000)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: <sender@crash.test>\r\nTo: <rcpt@example.org>\r\nSubject: crash trial %s\r\nMessage-ID: <%s@crash.test>\r\nX-Crash-Id: %s\r\nDate: Thu, 03 Dec 2026 12:00:00 +0000\r\n\r\n", id, id, id)
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;-"
	for b.Len() < size {
		n := 1 + r.IntN(100)
		if r.IntN(10) == 0 {
			b.WriteByte('.')
		}
		for range n {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

var (
	crashIDRE = regexp.MustCompile(`(?m)^X-Crash-Id: (\S+)\r?$`)
	// What smtpd puts before a message: Return-Path, then Received with
	// its continuation lines.
	crashTraceRE = regexp.MustCompile(`^Return-Path: <[^>]*>\r\nReceived: [^\r]*\r\n(?:[ \t][^\r]*\r\n)*`)
)

// crashCheckBytes says what is wrong with got, the stored form (CRLF) of
// the message id, or "". Mail that came in over SMTP carries our trace
// fields first; APPENDed mail is stored as sent.
func crashCheckBytes(got []byte, id string, viaSMTP bool) string {
	if viaSMTP {
		m := crashTraceRE.Find(got)
		if m == nil {
			return "no Return-Path/Received at the top"
		}
		got = got[len(m):]
	}
	want := crashMessage(id)
	if !bytes.Equal(got, want) {
		return fmt.Sprintf("bytes differ from what was sent (%d stored, %d sent, first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
	return ""
}

// crashID finds the id in a stored message.
func crashID(msg []byte) (string, bool) {
	m := crashIDRE.FindSubmatch(msg)
	if m == nil {
		return "", false
	}
	return string(m[1]), true
}

// msgState is what the model knows of one message.
type msgState struct {
	id             string
	folder         string // "user/Folder"
	viaSMTP        bool
	acked          bool // 250, APPEND OK, or seen after a restart
	uid            uint32
	flagged        bool // a STORE +FLAGS (\Flagged) was answered OK
	flagPending    bool // ... was sent, no answer yet
	expunged       bool // a UID EXPUNGE of it was answered OK
	expungePending bool
}

// folderState is what the model knows of one folder's UIDs.
type folderState struct {
	uidValidity uint32
	uids        map[uint32]string // every UID ever seen, and whose it was
	maxUID      uint32
}

// crashModel is shared by the workers; its methods lock.
type crashModel struct {
	mu      sync.Mutex
	msgs    map[string]*msgState
	folders map[string]*folderState
	errs    []string // violations seen by the workers while they ran

	// counters for the report
	ackedSMTP, ackedAppend, ackedFlags, ackedExpunges, unackedFound int
}

func newCrashModel() *crashModel {
	return &crashModel{msgs: map[string]*msgState{}, folders: map[string]*folderState{}}
}

func (m *crashModel) folder(name string) *folderState {
	f := m.folders[name]
	if f == nil {
		f = &folderState{uids: map[uint32]string{}}
		m.folders[name] = f
	}
	return f
}

// attempt records that the message is about to be sent.
func (m *crashModel) attempt(id, folder string, viaSMTP bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs[id] = &msgState{id: id, folder: folder, viaSMTP: viaSMTP}
}

// maxUID is the highest UID seen in folder so far.
func (m *crashModel) maxUID(folder string) uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.folder(folder).maxUID
}

// ack records a 250 or an APPEND OK; uid is 0 when not told. before is
// the folder's highest UID seen before the command was sent: a new UID
// must be above it.
func (m *crashModel) ack(id string, uidValidity, uid, before uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.msgs[id]
	s.acked = true
	if s.viaSMTP {
		m.ackedSMTP++
	} else {
		m.ackedAppend++
	}
	if uid != 0 {
		if uid <= before {
			m.errs = append(m.errs, fmt.Sprintf("%s: APPENDUID %d is not above UID %d seen before the APPEND", id, uid, before))
		}
		m.observeLocked(s.folder, uidValidity, uid, id)
	}
}

// observe records that folder holds id under uid; it reports a UID given
// to two messages, a message whose UID changed, or a new UIDVALIDITY.
func (m *crashModel) observe(folder string, uidValidity, uid uint32, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.observeLocked(folder, uidValidity, uid, id)
}

func (m *crashModel) observeLocked(folder string, uidValidity, uid uint32, id string) {
	f := m.folder(folder)
	switch {
	case f.uidValidity == 0:
		f.uidValidity = uidValidity
	case f.uidValidity != uidValidity:
		m.errs = append(m.errs, fmt.Sprintf("%s: UIDVALIDITY changed from %d to %d", folder, f.uidValidity, uidValidity))
		return
	}
	if other, ok := f.uids[uid]; ok && other != id {
		m.errs = append(m.errs, fmt.Sprintf("%s: UID %d reused: it was %s, now %s", folder, uid, other, id))
	}
	f.uids[uid] = id
	f.maxUID = max(f.maxUID, uid)
	if s := m.msgs[id]; s != nil {
		if s.uid != 0 && s.uid != uid {
			m.errs = append(m.errs, fmt.Sprintf("%s: %s changed UID from %d to %d", folder, id, s.uid, uid))
		}
		s.uid = uid
		if s.folder != folder {
			m.errs = append(m.errs, fmt.Sprintf("%s found in %s, sent to %s", id, folder, s.folder))
		}
	}
}

// mark sets a flag or expunge state on ids: pending before the command,
// done after its OK.
func (m *crashModel) mark(ids []string, expunge, done bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		s := m.msgs[id]
		if s == nil {
			continue
		}
		switch {
		case expunge && done:
			s.expunged, s.expungePending = true, false
			m.ackedExpunges++
		case expunge:
			s.expungePending = true
		case done:
			s.flagged, s.flagPending = true, false
			m.ackedFlags++
		default:
			s.flagPending = true
		}
	}
}

// violation records a problem a worker saw.
func (m *crashModel) violation(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errs = append(m.errs, fmt.Sprintf(format, args...))
}

// takeErrors returns and clears the workers' violations.
func (m *crashModel) takeErrors() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.errs
	m.errs = nil
	return e
}

// found is one stored message as a check found it.
type found struct {
	folder string
	uid    uint32 // 0 on disk
	flags  []string
	where  string // for messages: a file name or "folder UID n"
}

// checkPresence compares what was found with the model: an acknowledged
// message that was not expunged is there exactly once; an expunged one is
// not there; nothing is there twice or somewhere else. With settle, the
// uncertainty of commands cut by the crash is resolved by what was found
// (a message found counts as acknowledged from now on, an expunge or flag
// change in flight is taken as done or not), and acknowledged flags are
// checked.
func (m *crashModel) checkPresence(seen map[string][]found, settle bool) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []string
	for id, fs := range seen {
		s := m.msgs[id]
		if s == nil {
			errs = append(errs, fmt.Sprintf("%s: a message nobody sent (at %s)", id, fs[0].where))
			continue
		}
		if len(fs) > 1 {
			var where []string
			for _, f := range fs {
				where = append(where, f.where)
			}
			errs = append(errs, fmt.Sprintf("%s: stored %d times: %s", id, len(fs), strings.Join(where, ", ")))
		}
		if s.expunged {
			errs = append(errs, fmt.Sprintf("%s: expunged (UID EXPUNGE answered OK) but still there: %s", id, fs[0].where))
		}
		if fs[0].folder != s.folder {
			errs = append(errs, fmt.Sprintf("%s: found in %s, sent to %s", id, fs[0].folder, s.folder))
		}
	}
	for id, s := range m.msgs {
		n := len(seen[id])
		if s.acked && !s.expunged && !s.expungePending && n == 0 {
			what := "250"
			if !s.viaSMTP {
				what = "APPEND OK"
			}
			errs = append(errs, fmt.Sprintf("%s: lost: acknowledged (%s) to %s, UID %d, and never expunged", id, what, s.folder, s.uid))
		}
		if !settle {
			continue
		}
		if n > 0 {
			if !s.acked {
				m.unackedFound++
			}
			s.acked = true
			flagged := slices.Contains(seen[id][0].flags, `\Flagged`)
			if s.flagged && !flagged {
				errs = append(errs, fmt.Sprintf("%s: \\Flagged was stored (OK) but is gone", id))
			}
			if s.flagPending && flagged {
				s.flagged = true
			}
		} else if s.expungePending {
			s.expunged = true
		}
		s.flagPending, s.expungePending = false, false
		if n == 0 && !s.acked {
			delete(m.msgs, id) // never stored; forget it
		}
	}
	slices.Sort(errs)
	return errs
}

// errorsJoin renders problems for a test failure, at most 20 of them.
func errorsJoin(errs []string) error {
	if len(errs) == 0 {
		return nil
	}
	more := ""
	if len(errs) > 20 {
		more = fmt.Sprintf("\n... and %d more", len(errs)-20)
		errs = errs[:20]
	}
	return errors.New(strings.Join(errs, "\n") + more)
}
