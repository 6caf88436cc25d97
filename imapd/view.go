package imapd

import (
	"log/slog"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsuite/mailsuite/mailbox"
)

// view is one session's picture of its selected folder: the messages the
// client has been told about, in sequence-number order (msgs[i] is
// sequence number i+1), and what happened in the store that the client
// has not been told yet.
//
// RFC 9051 §7.5.1: a message expunged by someone else keeps its sequence
// number until EXPUNGE is sent, and EXPUNGE may not be sent during FETCH,
// STORE or SEARCH (by sequence number), so such a message stays in msgs,
// marked gone, until a command that allows it. New messages are held in
// added until EXISTS is sent, so that "*" and sequence numbers always mean
// what the client thinks they mean.
//
// msgs is the slice the store gave, taken as it is: with a
// mailbox.SharedFolder it is shared with other sessions (shared is set)
// and copied before the first change (own), so that SELECT of a
// 100,000-message folder copies nothing. gone is kept apart, by UID, and
// is empty almost always.
type view struct {
	msgs   []mailbox.MessageInfo
	shared bool
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

// newView takes msgs (ascending UID) for its own.
func newView(msgs []mailbox.MessageInfo) *view {
	v := &view{msgs: msgs, gone: make(map[uint32]struct{}), dirty: make(map[uint32]struct{})}
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

// own makes msgs the view's own before it is changed.
func (v *view) own() {
	if v.shared {
		v.msgs = append(make([]mailbox.MessageInfo, 0, len(v.msgs)+len(v.added)), v.msgs...)
		v.shared = false
	}
}

// isGone reports whether msgs[i] was expunged and not yet told.
func (v *view) isGone(i int) bool {
	if len(v.gone) == 0 {
		return false
	}
	_, ok := v.gone[v.msgs[i].UID]
	return ok
}

// index gives the position in msgs of uid, or -1.
func (v *view) index(uid uint32) int {
	i := sort.Search(len(v.msgs), func(i int) bool { return v.msgs[i].UID >= uid })
	if i < len(v.msgs) && v.msgs[i].UID == uid {
		return i
	}
	return -1
}

// lastUID is the highest UID the view knows, told or not.
func (v *view) lastUID() uint32 {
	if n := len(v.added); n > 0 {
		return v.added[n-1].UID
	}
	if n := len(v.msgs); n > 0 {
		return v.msgs[n-1].UID
	}
	return 0
}

// apply takes in what the store reports. It writes nothing.
func (v *view) apply(ch mailbox.Changes, log *slog.Logger) {
	v.markGone(ch.Expunged)
	for _, m := range ch.Added {
		if i := v.index(m.UID); i >= 0 {
			v.own()
			v.msgs[i] = m // already known: take the newer state
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
			v.own()
			v.msgs[i].Flags = m.Flags
			v.msgs[i].ModSeq = m.ModSeq
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
			v.own()
			v.msgs[i].Flags = m.Flags
			v.msgs[i].ModSeq = m.ModSeq
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
		v.own()
		v.msgs = append(v.msgs, v.added...)
		v.added = v.added[:0]
		// RFC 9051 §7.4.1: EXISTS gives the new number of messages.
		if err := w.WriteNumMessages(uint32(len(v.msgs))); err != nil {
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
			m := v.msgs[i]
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
	for i := len(v.msgs) - 1; i >= 0; i-- {
		if v.isGone(i) {
			if err := w.WriteExpunge(uint32(i + 1)); err != nil {
				return err
			}
		}
	}
	v.own()
	kept := v.msgs[:0]
	for i := range v.msgs {
		if !v.isGone(i) {
			kept = append(kept, v.msgs[i])
		}
	}
	clear(v.msgs[len(kept):])
	v.msgs = kept
	clear(v.gone)
	return nil
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
	out := wireFlags(systemFlags)
	kw := append([]string(nil), v.keywords...)
	sort.Strings(kw)
	return append(out, wireFlags(kw)...)
}
