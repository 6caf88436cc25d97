package imapd

import (
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailsuite/mailsuite/mailbox"
)

// listEntry is one name LIST may show: a folder, a missing parent of one
// (RFC 9051 §6.3.9: levels of hierarchy matched by "%" that are not
// mailboxes are shown as non-selectable), or a subscribed name that is not
// a folder (RFC 5258 §3.1: shown by the SUBSCRIBED selection with
// \NonExistent, so that the client can see it and UNSUBSCRIBE it).
type listEntry struct {
	name       string
	exists     bool
	subscribed bool
	specialUse string
	children   bool // some descendant is a folder
	// subscribedChild: some descendant is subscribed (RFC 5258 §3.5
	// RECURSIVEMATCH, CHILDINFO).
	subscribedChild bool
	// inTree: a folder or a superior of one. A name known only from the
	// subscriptions is listed only by the SUBSCRIBED selection.
	inTree bool
}

// List answers LIST, LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819) and
// LSUB (the library sends LSUB here as SelectSubscribed).
func (ss *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	defer ss.begin()()
	defer ss.cork()()
	if options == nil {
		options = &imap.ListOptions{}
	}
	if options.ReturnStatus != nil {
		if err := checkStatusOptions(options.ReturnStatus); err != nil {
			return err
		}
	}
	if len(patterns) == 0 {
		// RFC 9051 §6.3.9: an empty pattern asks for the delimiter and
		// the root name.
		return w.WriteList(&imap.ListData{
			Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect},
			Delim: delim,
		})
	}
	folders, err := ss.account.List()
	if err != nil {
		return ss.protoError("LIST", ctxPlain, err)
	}
	subs, err := ss.account.Subscriptions()
	if err != nil {
		return ss.protoError("LIST", ctxPlain, err)
	}
	for _, e := range listEntries(folders, subs) {
		if !matchAny(e.name, ref, patterns) {
			continue
		}
		data, ok := selectEntry(e, options)
		if !ok {
			continue
		}
		if options.ReturnStatus != nil && e.exists {
			// RFC 5819 §2: a mailbox whose status cannot be had is listed
			// without STATUS.
			if st, err := ss.account.Status(e.name); err == nil {
				data.Status = ss.statusData(e.name, st)
			} else {
				ss.log.Debug("list-status", "folder", e.name, "err", err)
			}
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

// selectEntry applies the LIST-EXTENDED selection options to e and gives
// the response for it.
func selectEntry(e listEntry, o *imap.ListOptions) (*imap.ListData, bool) {
	data := &imap.ListData{Delim: delim, Mailbox: e.name}
	if !e.inTree && !o.SelectSubscribed {
		return nil, false
	}
	if o.SelectSubscribed && !e.subscribed {
		// RFC 5258 §3.5: with RECURSIVEMATCH, a parent of a subscribed
		// mailbox is listed with CHILDINFO ("SUBSCRIBED").
		if !(o.SelectRecursiveMatch && e.subscribedChild) {
			return nil, false
		}
		data.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
	}
	if o.SelectSpecialUse && e.specialUse == "" {
		return nil, false
	}
	if !e.exists {
		// RFC 5258 §3: \NonExistent implies \Noselect; both are sent for
		// IMAP4rev1 clients that know only the latter.
		data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect, imap.MailboxAttrNonExistent)
	}
	// RFC 3348, RFC 9051 §7.3.1: children attributes are always given.
	if e.children {
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
	} else {
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
	}
	// RFC 5258 §3.1: SUBSCRIBED selection implies the SUBSCRIBED return.
	if e.subscribed && (o.ReturnSubscribed || o.SelectSubscribed) {
		data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
	}
	// RFC 6154 §2: special-use attributes may always be returned.
	if e.specialUse != "" {
		data.Attrs = append(data.Attrs, imap.MailboxAttr(e.specialUse))
	}
	return data, true
}

// listEntries turns the store's folders and subscriptions into the names
// LIST knows, adding missing parents, sorted with INBOX first.
func listEntries(folders []mailbox.FolderInfo, subs []string) []listEntry {
	byName := make(map[string]*listEntry, len(folders)+len(subs))
	entry := func(name string) *listEntry {
		e, ok := byName[name]
		if !ok {
			e = &listEntry{name: name}
			byName[name] = e
		}
		return e
	}
	for _, f := range folders {
		e := entry(f.Name)
		e.exists, e.inTree, e.specialUse = true, true, f.SpecialUse
		e.subscribed = e.subscribed || f.Subscribed
		for _, parent := range superiors(f.Name) {
			p := entry(parent)
			p.children, p.inTree = true, true
		}
	}
	// RFC 3501 §6.3.6, RFC 9051 §6.3.7: a subscription outlives its
	// folder; it is listed until the client unsubscribes it.
	for _, name := range subs {
		entry(name).subscribed = true
		for _, parent := range superiors(name) {
			entry(parent).subscribedChild = true
		}
	}
	out := make([]listEntry, 0, len(byName))
	for _, e := range byName {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].name, out[j].name
		if (a == "INBOX") != (b == "INBOX") {
			return a == "INBOX"
		}
		return a < b
	})
	return out
}

// superiors gives the names above name in the hierarchy ("A/B/C": "A",
// "A/B").
func superiors(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == delim {
			out = append(out, name[:i])
		}
	}
	return out
}

// matchAny applies LIST's reference and patterns (RFC 9051 §6.3.9) with
// imapserver.MatchList. INBOX matches in any case.
func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		if imapserver.MatchList(name, delim, inboxUpper(ref), inboxUpper(p)) {
			return true
		}
	}
	return false
}

// inboxUpper spells a leading "inbox" of a pattern or reference as INBOX,
// since RFC 9051 §5.1 makes INBOX case-insensitive.
func inboxUpper(s string) string {
	if len(s) >= 5 && strings.EqualFold(s[:5], "INBOX") && (len(s) == 5 || s[5] == delim) {
		return "INBOX" + s[5:]
	}
	return s
}
