package imapd

import (
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsuite/mailsuite/mailbox"
)

var systemFlags = []string{
	mailbox.FlagAnswered, mailbox.FlagFlagged, mailbox.FlagDeleted,
	mailbox.FlagSeen, mailbox.FlagDraft,
}

const flagRecent = `\Recent`

// storeFlags turns a client's flags into the store's. RFC 9051 §2.3.2:
// \Recent cannot be set by a client, so it is dropped; system flags get
// their canonical spelling. The store drops anything else it cannot keep.
func storeFlags(in []imap.Flag) []string {
	out := make([]string, 0, len(in))
	for _, f := range in {
		s := string(f)
		if strings.EqualFold(s, flagRecent) {
			continue
		}
		for _, sf := range systemFlags {
			if strings.EqualFold(s, sf) {
				s = sf
				break
			}
		}
		out = append(out, s)
	}
	return out
}

// wireFlags gives the store's flags as the imap package types them.
func wireFlags(in []string) []imap.Flag {
	out := make([]imap.Flag, len(in))
	for i, f := range in {
		out[i] = imap.Flag(f)
	}
	return out
}

// hasFlag reports whether flags has f, ignoring case (RFC 9051 §2.3.2:
// flags, keywords included, are matched without regard to case).
func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}
