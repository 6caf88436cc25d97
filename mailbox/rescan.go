package mailbox

import (
	"os"
	"path/filepath"
	"sort"
	"time"
)

// fileEnt is one message file found by a directory scan.
type fileEnt struct {
	name  string
	inCur bool
}

// rescanLocked reads new/ and cur/ and reconciles the index with them
// (invariant 3): a file no longer there is an expunge, a file renamed by
// another program (moved new/ to cur/, flags changed) keeps its UID and, if
// its flags changed, gets a new modseq; a file the index does not know
// gets the next UID. newNs and curNs are the mtimes stat-ed before the scan.
func (f *folderState) rescanLocked(now time.Time, newNs, curNs int64) error {
	f.scans++
	files := make(map[string]fileEnt, len(f.msgs)+16)
	for _, sub := range []string{"new", "cur"} {
		names, err := listDir(filepath.Join(f.dir, sub))
		if err != nil {
			return ioErr("scan folder", err)
		}
		for _, name := range names {
			if !validFileName(name) {
				continue
			}
			key, _ := splitName(name)
			if f.group.pending[key] {
				continue // being delivered: its batch commits it
			}
			if sub == "new" {
				if _, dup := files[key]; dup {
					continue
				}
			}
			files[key] = fileEnt{name: name, inCur: sub == "cur"}
		}
	}

	var (
		buf      []byte
		gone     []*message
		renamed  []*message // replacements, same UID
		flagged  []bool     // renamed[i] changed flags
		added    []*message
		ms       = f.highestModSeq
		uidNext  = f.uidNext
		newNames []string
	)
	for _, m := range f.msgs {
		fe, ok := files[m.key]
		if !ok {
			ms++
			buf = appendExpunge(buf, m.uid, ms)
			gone = append(gone, m)
			continue
		}
		delete(files, m.key)
		if fe.name == m.name && fe.inCur == m.inCur {
			continue
		}
		c := m.clone()
		c.setName(fe.name)
		c.inCur = fe.inCur
		changed := c.flags.sys != m.flags.sys
		if changed {
			ms++
			c.modseq = ms
			c.cache()
		}
		buf = appendRecord(buf, c)
		renamed = append(renamed, c)
		flagged = append(flagged, changed)
	}
	for key := range files {
		newNames = append(newNames, key)
	}
	// New files get UIDs in delivery order, as their names tell it.
	sort.Slice(newNames, func(i, j int) bool { return deliveredBefore(newNames[i], newNames[j]) })
	var fresh []*message
	for _, key := range newNames {
		fe := files[key]
		m := &message{inCur: fe.inCur}
		m.setName(fe.name)
		if !f.measure(m) {
			continue
		}
		takeDovecotKeywords(m, f.letterKWs)
		// A tree copied in from Dovecot keeps its UIDs (dovecot.go); they
		// are all below uidNext, and the index is empty then.
		if uid, ok := f.importUIDs[key]; ok && uid < uidNext && f.find(uid) == nil {
			m.uid = uid
			added = append(added, m)
			continue
		}
		fresh = append(fresh, m)
	}
	sort.Slice(added, func(i, j int) bool { return added[i].uid < added[j].uid })
	for _, m := range fresh {
		m.uid = uidNext
		uidNext++
		added = append(added, m)
	}
	for _, m := range added {
		ms++
		m.modseq = ms
		m.cache()
		buf = appendRecord(buf, m)
	}
	scanSure := len(f.group.pending) == 0 && !time.Unix(0, max(newNs, curNs)).Add(f.u.store.window).After(now)
	// Record the mtimes in the index once they can be trusted, so that a
	// restart need not scan again.
	saveMtimes := scanSure && (newNs != f.savedNew || curNs != f.savedCur)
	if saveMtimes {
		buf = appendMtimes(buf, newNs, curNs)
	}
	if err := f.journalLocked(buf); err != nil {
		return err
	}

	// Durable: now change memory and tell the handles.
	f.highestModSeq, f.uidNext = ms, uidNext
	f.newSeen, f.curSeen, f.scannedAt = newNs, curNs, now
	if saveMtimes {
		f.savedNew, f.savedCur = newNs, curNs
	}
	if len(gone) > 0 {
		f.dropLocked(gone, nil)
	}
	for i, c := range renamed {
		old := f.byKey[c.key]
		f.replaceLocked(old, c)
		if flagged[i] {
			f.recordLocked(changeFlags, c.uid, nil)
		}
	}
	for _, m := range added {
		f.appendMsgLocked(m)
		f.recordLocked(changeAdded, m.uid, nil)
	}
	if len(gone)+len(added)+len(renamed) > 0 {
		f.u.store.log.Info("outside changes picked up", "user", f.u.name, "folder", f.name.canon,
			"added", len(added), "expunged", len(gone), "renamed", len(renamed))
		f.notifyAllLocked(nil)
	}
	f.maybeCompactLocked()
	return nil
}

// measure fills in the sizes and internal date of a file another program
// put in the folder. The W= and S= fields of its name are trusted when S=
// matches the file; otherwise the file is read once. The internal date is
// the file's mtime (what Dovecot and others use). false if it vanished.
func (f *folderState) measure(m *message) bool {
	p := f.path(m)
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	m.date = st.ModTime().Truncate(time.Second)
	s, w := nameSizes(m.key)
	if s == st.Size() && w >= s {
		m.disk, m.size = s, w
		return true
	}
	fh, err := os.Open(p)
	if err != nil {
		return false
	}
	defer fh.Close()
	m.disk, m.size, err = crlfSize(fh)
	return err == nil
}

// appendMsgLocked adds a message with a UID above every other.
func (f *folderState) appendMsgLocked(m *message) {
	f.snap = nil
	f.msgs = append(f.msgs, m)
	f.byKey[m.key] = m
	f.countLocked(m, 1)
}

// replaceLocked puts c (same UID and key) in place of old.
func (f *folderState) replaceLocked(old, c *message) {
	i := sort.Search(len(f.msgs), func(i int) bool { return f.msgs[i].uid >= c.uid })
	if i < len(f.msgs) && f.msgs[i] == old {
		f.snap = nil
		f.countLocked(old, -1)
		f.msgs[i] = c
		f.byKey[c.key] = c
		f.countLocked(c, 1)
	}
}

// dropLocked removes messages from memory and records their expunges,
// made by origin (nil: not by a handle).
func (f *folderState) dropLocked(gone []*message, origin *handle) {
	f.snap = nil
	del := make(map[*message]bool, len(gone))
	for _, m := range gone {
		del[m] = true
	}
	kept := f.msgs[:0]
	for _, m := range f.msgs {
		if del[m] {
			f.countLocked(m, -1)
			delete(f.byKey, m.key)
			f.recordLocked(changeExpunged, m.uid, origin)
			continue
		}
		kept = append(kept, m)
	}
	for i := len(kept); i < len(f.msgs); i++ {
		f.msgs[i] = nil
	}
	f.msgs = kept
	uids := make([]uint32, len(gone))
	for i, m := range gone {
		uids[i] = m.uid
	}
	f.metaForgetLocked(uids)
}
