package imapd

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// Expunge answers EXPUNGE, UID EXPUNGE (RFC 4315 §2.1) and the expunge of
// CLOSE (whose writer discards the responses, RFC 9051 §6.4.2). In a
// read-only selection it does nothing: the library calls it for CLOSE
// even after EXAMINE (LIBRARY-NOTES.md).
func (ss *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	defer ss.begin()()
	defer ss.cork()()
	if ss.sel == nil {
		return errNotSelected
	}
	if ss.sel.readOnly {
		return nil
	}
	if err := ss.sync(); err != nil {
		return ss.protoError("EXPUNGE", ctxPlain, err)
	}
	v := ss.sel.v
	var which []uint32 // nil: every \Deleted message
	if uids != nil {
		idx, err := ss.targets(*uids)
		if err != nil {
			return err
		}
		which = make([]uint32, 0, len(idx))
		for _, i := range idx {
			if !v.isGone(i) {
				which = append(which, v.uid(i))
			}
		}
	}
	if which == nil || len(which) > 0 {
		removed, err := ss.sel.folder.Expunge(which)
		if err != nil {
			return ss.protoError("EXPUNGE", ctxPlain, err)
		}
		v.markGone(removed)
		if len(removed) > 0 {
			ss.log.Debug("expunged", "folder", ss.sel.name, "count", len(removed))
		}
	}
	return v.flushExpunges(w)
}
