package mailbox

import "sort"

// Change notification between handles on one folder (invariant 2).
//
// Each folder keeps an in-memory log of changes in the order they were
// made, numbered by seq. A handle's cursor is the last seq it has seen;
// Changes folds the entries after it into a Changes value, so a poll costs
// only the changes since the last one, however many handles are open.
//
// The log is bounded (Options.ChangeLogSize). When it is trimmed, the
// entries are first folded into the pending set of every handle whose
// cursor has not passed them. That pending set is exact and is bounded by
// the folder's size, so a handle that never polls costs memory but never
// loses or invents a change (instead of a full diff, which would need each
// handle to remember every UID it knows).

type changeKind uint8

const (
	changeAdded changeKind = iota
	changeFlags
	changeExpunged
)

type logEntry struct {
	seq    uint64
	kind   changeKind
	uid    uint32
	origin *handle // nil: delivery, append, copy, another program
}

type changeLog struct {
	log    []logEntry
	logSeq uint64
}

// pending is a handle's folded, not yet reported changes.
type pending struct {
	added    map[uint32]bool
	flags    map[uint32]bool
	expunged map[uint32]bool
}

func newPending() *pending {
	return &pending{added: map[uint32]bool{}, flags: map[uint32]bool{}, expunged: map[uint32]bool{}}
}

// fold applies one log entry to h's pending set. Changes h made itself with
// SetFlags, Expunge, Remove or Move are not repeated to it; a message added
// and expunged before h looked is never mentioned.
func (p *pending) fold(e logEntry, h *handle) {
	switch e.kind {
	case changeAdded:
		p.added[e.uid] = true
	case changeFlags:
		if e.origin != h && !p.added[e.uid] {
			p.flags[e.uid] = true
		}
	case changeExpunged:
		delete(p.flags, e.uid)
		if p.added[e.uid] {
			delete(p.added, e.uid)
			return
		}
		if e.origin != h {
			p.expunged[e.uid] = true
		}
	}
}

// recordLocked appends a change to the log, trimming it when full.
func (f *folderState) recordLocked(kind changeKind, uid uint32, origin *handle) {
	f.logSeq++
	f.log = append(f.log, logEntry{seq: f.logSeq, kind: kind, uid: uid, origin: origin})
	if len(f.log) > f.u.store.opts.ChangeLogSize {
		f.trimLocked(len(f.log) / 2)
	}
}

// trimLocked drops the oldest n entries, first folding them into the
// pending set of each handle that has not seen them.
func (f *folderState) trimLocked(n int) {
	floor := f.log[n-1].seq
	for h := range f.handles {
		if h.cursor >= floor {
			continue
		}
		if h.pend == nil {
			h.pend = newPending()
		}
		for _, e := range f.log[:n] {
			if e.seq > h.cursor {
				h.pend.fold(e, h)
			}
		}
		h.cursor = floor
	}
	f.log = append(f.log[:0:0], f.log[n:]...)
}

// notifyAllLocked signals every handle except origin, without blocking.
func (f *folderState) notifyAllLocked(origin *handle) {
	for h := range f.handles {
		if h != origin {
			if h.wake != nil {
				h.wake()
			}
			select {
			case h.notify <- struct{}{}:
			default:
			}
		}
	}
}

// SetNotifyFunc has fn called where Notify's channel is signaled (Folder).
func (h *handle) SetNotifyFunc(fn func()) {
	h.u.mu.Lock()
	defer h.u.mu.Unlock()
	h.wake = fn
}

// changesLocked folds what h has not seen and moves its cursor to the end.
func (f *folderState) changesLocked(h *handle) Changes {
	p := h.pend
	h.pend = nil
	i := sort.Search(len(f.log), func(i int) bool { return f.log[i].seq > h.cursor })
	if p == nil && i == len(f.log) {
		h.cursor = f.logSeq
		return Changes{}
	}
	if p == nil {
		p = newPending()
	}
	for _, e := range f.log[i:] {
		p.fold(e, h)
	}
	h.cursor = f.logSeq
	var c Changes
	for _, uid := range sortedUIDs(p.expunged) {
		c.Expunged = append(c.Expunged, uid)
	}
	for _, uid := range sortedUIDs(p.added) {
		if m := f.find(uid); m != nil {
			c.Added = append(c.Added, m.info())
		}
	}
	for _, uid := range sortedUIDs(p.flags) {
		if m := f.find(uid); m != nil {
			c.Flags = append(c.Flags, m.info())
		}
	}
	return c
}

func sortedUIDs(s map[uint32]bool) []uint32 {
	out := make([]uint32, 0, len(s))
	for uid := range s {
		out = append(out, uid)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
