package imapd

import (
	"slices"
	"sort"

	"github.com/emersion/go-imap/v2"
)

// targets resolves a command's message set to positions in the view
// (ascending, without duplicates). "*" arrives as 0 and "$" as
// imap.SearchRes(): the library leaves both to us (LIBRARY-NOTES.md).
// Gone messages are included; callers skip them as fits the command.
func (ss *session) targets(set imap.NumSet) ([]int, error) {
	v := ss.sel.v
	if imap.IsSearchRes(set) {
		// RFC 5182 §2.1: "$" is the saved result, less expunged messages.
		out := make([]int, 0, len(ss.saved))
		for _, uid := range ss.saved {
			if i := v.index(uid); i >= 0 {
				out = append(out, i)
			}
		}
		return out, nil
	}
	switch set := set.(type) {
	case imap.SeqSet:
		return seqTargets(v, set)
	case imap.UIDSet:
		return uidTargets(v, set), nil
	}
	return nil, badRequest("Invalid message set")
}

// seqTargets resolves sequence numbers. RFC 9051 §9 (seq-number): a
// number above the count of messages, or "*" in an empty mailbox, is a
// client error answered with BAD.
func seqTargets(v *view, set imap.SeqSet) ([]int, error) {
	n := uint32(v.count())
	var out []int
	for _, r := range set {
		lo, hi := r.Start, r.Stop
		if lo == 0 {
			lo = n
		}
		if hi == 0 {
			hi = n
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if lo == 0 || hi > n {
			return nil, badRequest("Message sequence number out of range")
		}
		for s := lo; s <= hi; s++ {
			out = append(out, int(s-1))
		}
	}
	return sortUnique(out), nil
}

// uidTargets resolves UIDs; UIDs not in the view are ignored (RFC 9051
// §6.4.9). RFC 9051 §6.4.8: "n:*" always includes the last message, even
// when n is above its UID.
func uidTargets(v *view, set imap.UIDSet) []int {
	if v.count() == 0 {
		return nil
	}
	last := v.uid(v.count() - 1)
	var out []int
	for _, r := range set {
		lo, hi := uint32(r.Start), uint32(r.Stop)
		if lo == 0 {
			lo = last
		}
		if hi == 0 {
			hi = last
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		i := sort.Search(v.count(), func(i int) bool { return v.uid(i) >= lo })
		for ; i < v.count() && v.uid(i) <= hi; i++ {
			out = append(out, i)
		}
	}
	return sortUnique(out)
}

func sortUnique(xs []int) []int {
	slices.Sort(xs)
	return slices.Compact(xs)
}

// inSeqSet and inUIDSet test one message against a SEARCH key's set, "*"
// being the last message.
func inSeqSet(set imap.SeqSet, seq, max uint32) bool {
	for _, r := range set {
		lo, hi := r.Start, r.Stop
		if lo == 0 {
			lo = max
		}
		if hi == 0 {
			hi = max
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if seq >= lo && seq <= hi {
			return true
		}
	}
	return false
}

func inUIDSet(set imap.UIDSet, uid, max uint32) bool {
	for _, r := range set {
		lo, hi := uint32(r.Start), uint32(r.Stop)
		if lo == 0 {
			lo = max
		}
		if hi == 0 {
			hi = max
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if uid >= lo && uid <= hi {
			return true
		}
	}
	return false
}

// uidSetOf builds a UIDSet from ascending UIDs, merging runs.
func uidSetOf(uids []uint32) imap.UIDSet {
	var set imap.UIDSet
	for i := 0; i < len(uids); {
		j := i
		for j+1 < len(uids) && uids[j+1] == uids[j]+1 {
			j++
		}
		set = append(set, imap.UIDRange{Start: imap.UID(uids[i]), Stop: imap.UID(uids[j])})
		i = j + 1
	}
	return set
}

// seqSetOf builds a SeqSet from ascending sequence numbers.
func seqSetOf(seqs []uint32) imap.SeqSet {
	var set imap.SeqSet
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1] == seqs[j]+1 {
			j++
		}
		set = append(set, imap.SeqRange{Start: seqs[i], Stop: seqs[j]})
		i = j + 1
	}
	return set
}
