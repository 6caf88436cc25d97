package imapd

import (
	"errors"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailsuite/mailsuite/mailbox"
)

// selection is the selected folder of a session.
type selection struct {
	folder   mailbox.Folder
	name     string
	readOnly bool
	v        *view
}

// Select opens a folder for SELECT or EXAMINE (RFC 9051 §6.3.2, §6.3.3).
func (ss *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	defer ss.begin()()
	defer ss.cork()()
	ss.closeSelection() // the library unselects first; this is defensive
	readOnly := options != nil && options.ReadOnly
	f, err := ss.account.Open(name, readOnly)
	if err != nil {
		return nil, ss.protoError("SELECT", ctxPlain, err)
	}
	var msgs []mailbox.MessageInfo
	sf, shared := f.(mailbox.SharedFolder)
	if shared {
		msgs, err = sf.MessagesShared()
	} else {
		msgs, err = f.Messages()
	}
	if err != nil {
		f.Close()
		return nil, ss.protoError("SELECT", ctxPlain, err)
	}
	// Status after Messages: its UIDNEXT is then above every UID we show.
	st, err := ss.account.Status(name)
	if err != nil {
		f.Close()
		return nil, ss.protoError("SELECT", ctxPlain, err)
	}
	sel := &selection{folder: f, name: name, readOnly: readOnly || f.ReadOnly(), v: newView(msgs, shared)}
	uidNext := st.UIDNext
	if last := sel.v.lastUID(); uidNext <= last {
		uidNext = last + 1
	}
	data := &imap.SelectData{
		Flags:       sel.v.flagList(),
		NumMessages: uint32(len(msgs)),
		UIDNext:     imap.UID(uidNext),
		UIDValidity: f.UIDValidity(),
	}
	if sel.readOnly {
		// RFC 9051 §6.3.3: nothing can be changed in an EXAMINEd mailbox.
		data.PermanentFlags = []imap.Flag{}
	} else {
		// RFC 9051 §7.1: \* means new keywords can be made.
		data.PermanentFlags = append(sel.v.flagList(), imap.FlagWildcard)
	}
	for i, m := range msgs {
		// IMAP4rev1 only (RFC 3501 §7.1 UNSEEN); the library drops it for rev2.
		if !hasFlag(m.Flags, mailbox.FlagSeen) {
			data.FirstUnseenSeqNum = uint32(i + 1)
			break
		}
	}
	ss.sel = sel
	ss.saved = nil
	ss.log.Debug("selected", "folder", name, "read_only", sel.readOnly, "messages", len(msgs))
	return data, nil
}

// Unselect closes the folder (UNSELECT, and CLOSE after its expunge).
func (ss *session) Unselect() error {
	defer ss.begin()()
	ss.closeSelection()
	return nil
}

// sync takes the store's changes into the view without telling the client;
// the next Poll tells it.
func (ss *session) sync() error {
	ch, err := ss.sel.folder.Changes()
	if err != nil {
		return err
	}
	if !ch.Empty() {
		ss.sel.v.apply(ch, ss.log)
	}
	return nil
}

// Poll runs after every command and at NOOP/CHECK (RFC 9051 §6.1.2,
// §6.4.1): it tells the client about changes. allowExpunge is false after
// FETCH, STORE and SEARCH (RFC 9051 §7.5.1).
func (ss *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	defer ss.begin()()
	defer ss.cork()()
	if ss.sel == nil {
		return nil
	}
	return ss.pollLocked(w, allowExpunge)
}

func (ss *session) pollLocked(w updateWriter, allowExpunge bool) error {
	err := ss.sync()
	if errors.Is(err, mailbox.ErrNoMailbox) && allowExpunge {
		// Another session deleted or renamed the selected folder; the
		// store has reported its messages expunged already. There is no
		// way back to a valid selection, so end the session (RFC 9051
		// §7.1.5 BYE), as Dovecot does.
		if ferr := ss.sel.v.flush(w, true); ferr != nil {
			return ferr
		}
		ss.log.Info("selected folder vanished; closing", "folder", ss.sel.name)
		if ss.corker != nil {
			ss.corker.uncork() // what was gathered goes before the BYE
		}
		ss.conn.Bye("Selected mailbox was deleted or renamed")
		return err
	}
	if err != nil {
		return ss.protoError("poll", ctxPlain, err)
	}
	return ss.sel.v.flush(w, allowExpunge)
}
