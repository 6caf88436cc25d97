package imapd

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// liveUIDs resolves a message set to the UIDs of messages still there.
func (ss *session) liveUIDs(numSet imap.NumSet) (uids []uint32, expunged bool, err error) {
	idx, err := ss.targets(numSet)
	if err != nil {
		return nil, false, err
	}
	for _, i := range idx {
		if ss.sel.v.isGone(i) {
			expunged = true
			continue
		}
		uids = append(uids, ss.sel.v.uid(i))
	}
	return uids, expunged, nil
}

// Copy answers COPY and UID COPY (RFC 9051 §6.4.7) with COPYUID (RFC 4315
// §3). A missing destination is TRYCREATE.
func (ss *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	defer ss.begin()()
	defer ss.cork()()
	if ss.sel == nil {
		return nil, errNotSelected
	}
	if err := ss.sync(); err != nil {
		return nil, ss.protoError("COPY", ctxPlain, err)
	}
	uids, _, err := ss.liveUIDs(numSet)
	if err != nil || len(uids) == 0 {
		return nil, err
	}
	validity, src, dst, err := ss.sel.folder.Copy(uids, dest)
	if err != nil {
		return nil, ss.protoError("COPY", ctxTarget, err)
	}
	if len(src) == 0 {
		return nil, nil
	}
	return &imap.CopyData{UIDValidity: validity, SourceUIDs: uidSetOf(src), DestUIDs: uidSetOf(dst)}, nil
}

// Move answers MOVE and UID MOVE (RFC 6851 §3): COPYUID in an untagged
// OK first (§4.3), then EXPUNGE for each message moved.
func (ss *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	defer ss.begin()()
	defer ss.cork()()
	if ss.sel == nil {
		return errNotSelected
	}
	if ss.sel.readOnly {
		return errReadOnly
	}
	if err := ss.sync(); err != nil {
		return ss.protoError("MOVE", ctxPlain, err)
	}
	uids, _, err := ss.liveUIDs(numSet)
	if err != nil || len(uids) == 0 {
		return err
	}
	validity, src, dst, err := ss.sel.folder.Move(uids, dest)
	if err != nil {
		return ss.protoError("MOVE", ctxTarget, err)
	}
	if len(src) > 0 {
		data := &imap.CopyData{UIDValidity: validity, SourceUIDs: uidSetOf(src), DestUIDs: uidSetOf(dst)}
		if err := w.WriteCopyData(data); err != nil {
			return err
		}
	}
	ss.sel.v.markGone(src)
	return ss.sel.v.flushExpunges(w)
}
