package imapd

import (
	"log/slog"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsuite/mailsuite/mailbox"
)

// view is one session's picture of its selected folder: the messages the
// client has been told about, in sequence-number order (at(i) is sequence
// number i+1), and what happened in the store that the client has not
// been told yet.
//
// RFC 9051 §7.5.1: a message expunged by someone else keeps its sequence
// number until EXPUNGE is sent, and EXPUNGE may not be sent during FETCH,
// STORE or SEARCH (by sequence number), so such a message stays in msgs,
// marked gone, until a command that allows it. New messages are held in
// added until EXISTS is sent, so that "*" and sequence numbers always mean
// what the client thinks they mean.
//
// The messages are base, the slice the store gave, then tail. With a
// mailbox.SharedFolder, base is shared with every session that selected
// the folder in the same state (shared is set) and never written: a
// changed message goes in over, new ones in tail. So SELECT of a
// 100,000-message folder copies nothing, and a thousand sessions idling
// on it share one list across deliveries and flag changes; only sending
// EXPUNGE, which renumbers, makes the list the view's own. gone is kept
// apart, by UID, and is empty almost always.
type view struct {
	base   []mailbox.MessageInfo
	shared bool
	over   map[int]mailbox.MessageInfo // changed messages of a shared base
	tail   []mailbox.MessageInfo
	added  []mailbox.MessageInfo
	gone   map[uint32]struct{} // UIDs of msgs expunged, not yet told
	dirty  map[uint32]struct{} // UIDs whose flags others changed, not yet told

	keywords        []string // keywords in use, for the FLAGS response
	keywordsChanged bool
}

// updateWriter is what imapserver.UpdateWriter offers (Poll and IDLE).
type updateWriter interface {
	expungeWriter
	WriteNumMessages(n uint32) error
	WriteMailboxFlags(flags []imap.Flag) error
	WriteMessageFlags(seqNum uint32, uid imap.UID, flags []imap.Flag) error
}

// expungeWriter is what EXPUNGE and MOVE can send.
type expungeWriter interface {
	WriteExpunge(seqNum uint32) error
}

// newView takes msgs (ascending UID); shared: they are shared with other
// sessions and must not be written.
func newView(msgs []mailbox.MessageInfo, shared bool) *view {
	v := &view{base: msgs, shared: shared, gone: make(map[uint32]struct{}), dirty: make(map[uint32]struct{})}
	var last []string
	for i := range msgs {
		// Messages share their flag slices while their flags are the
		// same state; most have none or the same few.
		if f := msgs[i].Flags; len(f) > 0 && !sameSlice(f, last) {
			v.noteKeywords(f)
			last = f
		}
	}
	v.keywordsChanged = false
	return v
}

func sameSlice(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// count is the number of messages the client knows.
func (v *view) count() int { return len(v.base) + len(v.tail) }

// at is message i (sequence number i+1).
func (v *view) at(i int) mailbox.MessageInfo {
	if i >= len(v.base) {
		return v.tail[i-len(v.base)]
	}
	if v.over != nil {
		if m, ok := v.over[i]; ok {
			return m
		}
	}
	return v.base[i]
}

// uid is the UID of message i.
func (v *view) uid(i int) uint32 {
	if i >= len(v.base) {
		return v.tail[i-len(v.base)].UID
	}
	return v.base[i].UID // over never changes a UID
}

// set replaces message i (same UID).
func (v *view) set(i int, m mailbox.MessageInfo) {
	switch {
	case i >= len(v.base):
		v.tail[i-len(v.base)] = m
	case v.shared:
		if v.over == nil {
			v.over = make(map[int]mailbox.MessageInfo)
		}
		v.over[i] = m
	default:
		v.base[i] = m
	}
}

// isGone reports whether message i was expunged and not yet told.
func (v *view) isGone(i int) bool {
	if len(v.gone) == 0 {
		return false
	}
	_, ok := v.gone[v.uid(i)]
	return ok
}

// index gives the position of uid, or -1.
func (v *view) index(uid uint32) int {
	n := v.count()
	i := sort.Search(n, func(i int) bool { return v.uid(i) >= uid })
	if i < n && v.uid(i) == uid {
		return i
	}
	return -1
}

// lastUID is the highest UID the view knows, told or not.
func (v *view) lastUID() uint32 {
	if n := len(v.added); n > 0 {
		return v.added[n-1].UID
	}
	if n := v.count(); n > 0 {
		return v.uid(n - 1)
	}
	return 0
}

// apply takes in what the store reports. It writes nothing.
func (v *view) apply(ch mailbox.Changes, log *slog.Logger) {
	v.markGone(ch.Expunged)
	for _, m := range ch.Added {
		if i := v.index(m.UID); i >= 0 {
			v.set(i, m) // already known: take the newer state
			continue
		}
		if m.UID <= v.lastUID() {
			// RFC 9051 §2.3.1.1: UIDs only grow. A store that breaks this
			// would scramble sequence numbers; keep the view consistent.
			log.Error("store reported a new message with an old UID", "uid", m.UID, "last", v.lastUID())
			continue
		}
		v.added = append(v.added, m)
		v.noteKeywords(m.Flags)
	}
	for _, m := range ch.Flags {
		v.noteKeywords(m.Flags)
		if i := v.index(m.UID); i >= 0 {
			if v.isGone(i) {
				continue
			}
			v.setFlagsAt(i, m)
			v.dirty[m.UID] = struct{}{}
			continue
		}
		for j := range v.added {
			if v.added[j].UID == m.UID {
				v.added[j].Flags = m.Flags
				v.added[j].ModSeq = m.ModSeq
			}
		}
	}
}

// setFlags records flags this session set itself (told to the client by
// the command, not again by the next poll).
func (v *view) setFlags(infos []mailbox.MessageInfo) {
	for _, m := range infos {
		v.noteKeywords(m.Flags)
		if i := v.index(m.UID); i >= 0 {
			v.setFlagsAt(i, m)
			delete(v.dirty, m.UID)
		}
	}
}

// flush tells the client what it has not been told: EXPUNGE (when
// allowed), EXISTS, FLAGS, then FETCH FLAGS for others' flag changes.
func (v *view) flush(w updateWriter, allowExpunge bool) error {
	if allowExpunge {
		if err := v.flushExpunges(w); err != nil {
			return err
		}
	}
	if v.keywordsChanged {
		v.keywordsChanged = false
		if err := w.WriteMailboxFlags(v.flagList()); err != nil {
			return err
		}
	}
	if len(v.added) > 0 {
		if v.shared {
			v.tail = append(v.tail, v.added...)
		} else {
			v.base = append(v.base, v.added...)
		}
		v.added = v.added[:0]
		// RFC 9051 §7.4.1: EXISTS gives the new number of messages.
		if err := w.WriteNumMessages(uint32(v.count())); err != nil {
			return err
		}
	}
	if len(v.dirty) > 0 {
		seqs := make([]int, 0, len(v.dirty))
		for uid := range v.dirty {
			if i := v.index(uid); i >= 0 && !v.isGone(i) {
				seqs = append(seqs, i)
			}
		}
		clear(v.dirty)
		sort.Ints(seqs)
		for _, i := range seqs {
			m := v.at(i)
			if err := w.WriteMessageFlags(uint32(i+1), imap.UID(m.UID), wireFlags(m.Flags)); err != nil {
				return err
			}
		}
	}
	return nil
}

// flushExpunges sends EXPUNGE for every gone message, highest sequence
// number first so that each number is right when the client reads it
// (RFC 9051 §7.5.1: the numbers of later messages go down by one).
func (v *view) flushExpunges(w expungeWriter) error {
	if len(v.gone) == 0 {
		return nil
	}
	for i := v.count() - 1; i >= 0; i-- {
		if v.isGone(i) {
			if err := w.WriteExpunge(uint32(i + 1)); err != nil {
				return err
			}
		}
	}
	// The numbers change: the list becomes the view's own.
	kept := make([]mailbox.MessageInfo, 0, v.count()-len(v.gone))
	for i := range v.count() {
		if !v.isGone(i) {
			kept = append(kept, v.at(i))
		}
	}
	v.base, v.shared, v.over, v.tail = kept, false, nil, nil
	clear(v.gone)
	return nil
}

// setFlagsAt takes the flags and modseq of m for message i.
func (v *view) setFlagsAt(i int, m mailbox.MessageInfo) {
	cur := v.at(i)
	cur.Flags, cur.ModSeq = m.Flags, m.ModSeq
	v.set(i, cur)
}

// markGone records messages removed from the folder, by this session
// (EXPUNGE, MOVE) or another; flushExpunges tells the client.
func (v *view) markGone(uids []uint32) {
	for _, uid := range uids {
		if i := v.index(uid); i >= 0 {
			v.gone[uid] = struct{}{}
			delete(v.dirty, uid)
			continue
		}
		for j := range v.added {
			if v.added[j].UID == uid {
				v.added = append(v.added[:j], v.added[j+1:]...)
				break
			}
		}
	}
}

func (v *view) noteKeywords(flags []string) {
	for _, f := range flags {
		if strings.HasPrefix(f, `\`) {
			continue
		}
		found := false
		for _, k := range v.keywords {
			if strings.EqualFold(k, f) {
				found = true
				break
			}
		}
		if !found {
			v.keywords = append(v.keywords, f)
			v.keywordsChanged = true
		}
	}
}

// flagList is the FLAGS response: system flags and keywords in use (RFC
// 9051 §7.3.5).
func (v *view) flagList() []imap.Flag {
	out := append([]imap.Flag(nil), wireFlags(systemFlags)...) // a copy: callers append
	kw := append([]string(nil), v.keywords...)
	sort.Strings(kw)
	return append(out, wireFlags(kw)...)
}
