package mailbox

import (
	"sort"
	"strings"
)

// Flags cross the API as IMAP spells them. System flags and $Forwarded live
// in the Maildir file name (see filename.go); every other keyword lives in
// the UID index only (not in a dovecot-keywords file: that caps a folder at
// 26 keywords and splits one fact over two files). A rebuilt index therefore
// keeps system flags and $Forwarded but loses other keywords.
//
// RFC 9051 §2.3.2: \Recent is a session flag and cannot be stored; other
// flags beginning with "\" that are not system flags are ignored. Keywords
// are matched without regard to case (the first spelling stored is kept),
// and a keyword that is not an IMAP atom (RFC 9051 §9 atom-specials, space,
// control characters, 8-bit) is dropped.

// flagSet is a message's flags: system bits plus keywords.
type flagSet struct {
	sys      uint8
	keywords []string // sorted, no duplicates (case-insensitive)
}

// parseFlags turns API flags into a flagSet.
func parseFlags(flags []string) flagSet {
	var fs flagSet
	for _, f := range flags {
		if bit := sysBit(f); bit != 0 {
			fs.sys |= bit
			continue
		}
		if strings.HasPrefix(f, `\`) || !validKeyword(f) {
			continue
		}
		fs.keywords = addKeyword(fs.keywords, f)
	}
	return fs
}

func sysBit(f string) uint8 {
	for _, l := range sysLetters {
		if strings.EqualFold(f, l.flag) {
			return l.bit
		}
	}
	return 0
}

func validKeyword(k string) bool {
	if k == "" || len(k) > 200 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

func hasKeyword(kws []string, k string) int {
	for i, x := range kws {
		if strings.EqualFold(x, k) {
			return i
		}
	}
	return -1
}

func addKeyword(kws []string, k string) []string {
	if hasKeyword(kws, k) >= 0 {
		return kws
	}
	out := append(append([]string(nil), kws...), k)
	sort.Strings(out)
	return out
}

// apply combines old flags with the given ones as op says.
func (fs flagSet) apply(op StoreOp, given flagSet) flagSet {
	switch op {
	case FlagsAdd:
		out := flagSet{sys: fs.sys | given.sys, keywords: fs.keywords}
		for _, k := range given.keywords {
			out.keywords = addKeyword(out.keywords, k)
		}
		return out
	case FlagsRemove:
		out := flagSet{sys: fs.sys &^ given.sys}
		for _, k := range fs.keywords {
			if hasKeyword(given.keywords, k) < 0 {
				out.keywords = append(out.keywords, k)
			}
		}
		return out
	default:
		return given
	}
}

func (fs flagSet) equal(o flagSet) bool {
	if fs.sys != o.sys || len(fs.keywords) != len(o.keywords) {
		return false
	}
	for i := range fs.keywords {
		if fs.keywords[i] != o.keywords[i] {
			return false
		}
	}
	return true
}

// list gives the flags as the API shows them, sorted.
func (fs flagSet) list() []string {
	out := make([]string, 0, 6+len(fs.keywords))
	for _, l := range sysLetters {
		if fs.sys&l.bit != 0 {
			out = append(out, l.flag)
		}
	}
	out = append(out, fs.keywords...)
	sort.Strings(out)
	// Shared by every MessageInfo of this message state: clip it so a
	// caller's append cannot write into it.
	return out[:len(out):len(out)]
}
