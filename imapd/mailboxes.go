package imapd

import (
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsuite/mailsuite/mailbox"
)

// delim is the hierarchy delimiter, the store's own.
const delim = '/'

// creatableUses are the special-use attributes CREATE (USE ...) accepts
// (RFC 6154 §3). \All and \Flagged name virtual folders that the store
// does not compute, so a plain folder must not claim them.
var creatableUses = map[imap.MailboxAttr]string{
	imap.MailboxAttrSent:    mailbox.UseSent,
	imap.MailboxAttrDrafts:  mailbox.UseDrafts,
	imap.MailboxAttrTrash:   mailbox.UseTrash,
	imap.MailboxAttrJunk:    mailbox.UseJunk,
	imap.MailboxAttrArchive: mailbox.UseArchive,
}

// Create makes a folder and any missing parents.
func (ss *session) Create(name string, options *imap.CreateOptions) error {
	defer ss.begin()()
	// RFC 9051 §6.3.4: a trailing delimiter declares the intent to make
	// children; the name itself is created without it.
	name = strings.TrimRight(name, string(delim))
	if name == "" {
		return ss.protoError("CREATE", ctxPlain, mailbox.ErrBadName)
	}
	use := ""
	if options != nil && len(options.SpecialUse) > 0 {
		// RFC 6154 §3: a special use we cannot give means no mailbox at
		// all, answered with USEATTR.
		u, ok := creatableUses[canonicalAttr(options.SpecialUse[0])]
		if !ok || len(options.SpecialUse) > 1 {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: codeUseAttr,
				Text: "Unsupported special-use attribute"}
		}
		use = u
	}
	if strings.EqualFold(name, "INBOX") {
		return ss.protoError("CREATE", ctxPlain, mailbox.ErrExists)
	}
	// RFC 9051 §6.3.4: "the server SHOULD create any superior hierarchical
	// names that are needed for the CREATE command to be successfully
	// completed". The store does that itself, after validating the whole
	// name, so that a CREATE answered NO leaves no parent folder behind.
	if err := ss.account.Create(name, use); err != nil {
		return ss.protoError("CREATE", ctxPlain, err)
	}
	ss.log.Debug("folder created", "folder", name)
	return nil
}

// canonicalAttr spells a client's attribute as the imap package does.
func canonicalAttr(a imap.MailboxAttr) imap.MailboxAttr {
	for k := range creatableUses {
		if strings.EqualFold(string(k), string(a)) {
			return k
		}
	}
	return a
}

func (ss *session) Delete(name string) error {
	defer ss.begin()()
	// RFC 9051 §6.3.5: deleting INBOX is an error.
	if strings.EqualFold(name, "INBOX") {
		return ss.protoError("DELETE", ctxPlain, mailbox.ErrCannot)
	}
	if err := ss.account.Delete(name); err != nil {
		return ss.protoError("DELETE", ctxPlain, err)
	}
	ss.log.Debug("folder deleted", "folder", name)
	return nil
}

func (ss *session) Rename(oldName, newName string, _ *imap.RenameOptions) error {
	defer ss.begin()()
	newName = strings.TrimRight(newName, string(delim))
	if err := ss.account.Rename(oldName, newName); err != nil {
		return ss.protoError("RENAME", ctxPlain, err)
	}
	ss.log.Debug("folder renamed", "from", oldName, "to", newName)
	return nil
}

func (ss *session) Subscribe(name string) error {
	defer ss.begin()()
	return ss.protoError("SUBSCRIBE", ctxPlain, ss.account.SetSubscribed(name, true))
}

func (ss *session) Unsubscribe(name string) error {
	defer ss.begin()()
	return ss.protoError("UNSUBSCRIBE", ctxPlain, ss.account.SetSubscribed(name, false))
}

// Namespace: one personal namespace, the user's whole tree (RFC 2342,
// RFC 9051 §6.3.10).
func (ss *session) Namespace() (*imap.NamespaceData, error) {
	defer ss.begin()()
	return &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}},
	}, nil
}

// Status answers STATUS (RFC 9051 §6.3.11, RFC 8438 SIZE, RFC 7889
// APPENDLIMIT).
func (ss *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	defer ss.begin()()
	if err := checkStatusOptions(options); err != nil {
		return nil, err
	}
	st, err := ss.account.Status(name)
	if err != nil {
		return nil, ss.protoError("STATUS", ctxPlain, err)
	}
	return ss.statusData(name, st), nil
}

// checkStatusOptions refuses the items we do not serve; the library would
// dereference a nil answer for them.
func checkStatusOptions(options *imap.StatusOptions) error {
	if options != nil && options.DeletedStorage {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Unknown STATUS data item"}
	}
	return nil
}

func (ss *session) statusData(name string, st mailbox.Status) *imap.StatusData {
	limit := uint32(ss.srv.opts.AppendLimit)
	var recent uint32 // RFC 9051 has no \Recent; IMAP4rev1 clients get 0
	return &imap.StatusData{
		Mailbox:     name,
		NumMessages: &st.Messages,
		NumRecent:   &recent,
		UIDNext:     imap.UID(st.UIDNext),
		UIDValidity: st.UIDValidity,
		NumUnseen:   &st.Unseen,
		NumDeleted:  &st.Deleted,
		Size:        &st.Size,
		AppendLimit: &limit,
	}
}
