package imapd

import (
	"slices"
	"strings"
	"unsafe"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsuite/mailsuite/mailbox"
)

var systemFlags = []string{
	mailbox.FlagAnswered, mailbox.FlagFlagged, mailbox.FlagDeleted,
	mailbox.FlagSeen, mailbox.FlagDraft,
}

const flagRecent = `\Recent`

// checkFlags refuses, with BAD, the flags a client may not store or
// append (RFC 9051 §6.4.6 STORE, §6.3.12 APPEND):
//   - \Recent: RFC 3501 §2.3.2, "this flag can not be altered by the
//     client"; IMAP4rev2 has no such flag at all (RFC 9051 Appendix E);
//   - any other flag that begins with "\" but is not one of the system
//     flags of RFC 9051 §2.3.2 (flag-extension is reserved for future
//     standards), "\*" included: it names no flag, only the right to make
//     keywords (PERMANENTFLAGS).
//
// Keywords (no backslash) are the client's to make.
func checkFlags(in []imap.Flag) error {
	for _, f := range in {
		s := string(f)
		if !strings.HasPrefix(s, `\`) {
			continue
		}
		if strings.EqualFold(s, flagRecent) {
			return badRequest(`\Recent cannot be stored`)
		}
		if !slices.ContainsFunc(systemFlags, func(sf string) bool { return strings.EqualFold(s, sf) }) {
			return badRequest("Unknown system flag " + s)
		}
	}
	return nil
}

// storeFlags turns a client's flags, already checked by checkFlags, into
// the store's: system flags get their canonical spelling (RFC 9051
// §2.3.2: flags are matched without regard to case).
func storeFlags(in []imap.Flag) []string {
	out := make([]string, 0, len(in))
	for _, f := range in {
		s := string(f)
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
// imap.Flag is a string type, so the slice is the same memory seen as
// that type, not a copy (FETCH FLAGS of 100,000 messages made 100,000
// copies, BenchmarkScale100k). The store never changes a flag slice it
// has handed out, and the library only reads it.
func wireFlags(in []string) []imap.Flag {
	if len(in) == 0 {
		return []imap.Flag{}
	}
	return unsafe.Slice((*imap.Flag)(unsafe.Pointer(unsafe.SliceData(in))), len(in))
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
