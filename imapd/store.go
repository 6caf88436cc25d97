package imapd

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailsuite/mailsuite/mailbox"
)

// Store answers STORE and UID STORE (RFC 9051 §6.4.6): FLAGS, +FLAGS and
// -FLAGS, with .SILENT. A read-only selection refuses it (RFC 9051
// §6.3.3).
func (ss *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	defer ss.begin()()
	defer ss.cork()()
	if ss.sel == nil {
		return errNotSelected
	}
	if err := checkFlags(flags.Flags); err != nil {
		return err
	}
	if ss.sel.readOnly {
		return errReadOnly
	}
	if err := ss.sync(); err != nil {
		return ss.protoError("STORE", ctxPlain, err)
	}
	idx, err := ss.targets(numSet)
	if err != nil {
		return err
	}
	v := ss.sel.v
	var uids []uint32
	expunged := false
	for _, i := range idx {
		if v.isGone(i) {
			expunged = true
			continue
		}
		uids = append(uids, v.uid(i))
	}
	if len(uids) > 0 {
		op := mailbox.FlagsReplace
		switch flags.Op {
		case imap.StoreFlagsAdd:
			op = mailbox.FlagsAdd
		case imap.StoreFlagsDel:
			op = mailbox.FlagsRemove
		}
		infos, err := ss.sel.folder.SetFlags(uids, op, storeFlags(flags.Flags))
		if err != nil {
			return ss.protoError("STORE", ctxPlain, err)
		}
		v.setFlags(infos)
		if !flags.Silent {
			// The new flags of every message named, changed or not; the
			// UID too, which UID STORE needs and STORE may have.
			for _, i := range idx {
				if v.isGone(i) {
					continue
				}
				m := v.at(i)
				rw := w.CreateMessage(uint32(i + 1))
				rw.WriteUID(imap.UID(m.UID))
				rw.WriteFlags(wireFlags(m.Flags))
				if err := rw.Close(); err != nil {
					return err
				}
			}
		}
	}
	if expunged {
		return errExpungeIssued
	}
	return nil
}
