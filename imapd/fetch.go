package imapd

import (
	"errors"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailsuite/mailsuite/mailbox"
)

// maxHeaderFetch bounds the header octets read into memory for
// HEADER.FIELDS filtering.
const maxHeaderFetch = 1 << 20

// Fetch answers FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 3516 BINARY).
//
// Everything small about a message is gathered before its response is
// begun; large sections are then streamed from the file into the literal.
// A message expunged by another session is skipped, and the tagged OK
// then carries EXPUNGEISSUED (RFC 5530 §3).
func (ss *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	defer ss.begin()()
	defer ss.cork()()
	if ss.sel == nil {
		return errNotSelected
	}
	if err := ss.sync(); err != nil {
		return ss.protoError("FETCH", ctxPlain, err)
	}
	idx, err := ss.targets(numSet)
	if err != nil {
		return err
	}
	v := ss.sel.v
	seen, err := ss.markSeen(idx, options)
	if err != nil {
		return err
	}
	utf8OK := ss.utf8Accepted()
	expunged := false
	var lines *indexLines
	if indexOnly(options) {
		lines = &indexLines{nc: ss.conn.NetConn()}
		if ss.corker != nil && ss.corker.guard != nil {
			lines.trace = ss.corker.guard.trace // debug_protocol, as the library's own lines
		}
	}
	for _, i := range idx {
		if v.isGone(i) {
			expunged = true
			continue
		}
		m := v.at(i)
		if lines != nil && lines.add(uint32(i+1), m, options) {
			if options.Flags {
				delete(ss.sel.v.dirty, m.UID) // told now, not again by the poll
			}
			if err := lines.flush(false); err != nil {
				return err
			}
			continue
		}
		if err := lines.flush(true); err != nil {
			return err
		}
		ok, err := ss.fetchOne(w, uint32(i+1), m, options, seen[m.UID], utf8OK)
		if err != nil {
			return err
		}
		if !ok {
			expunged = true
		}
	}
	if err := lines.flush(true); err != nil {
		return err
	}
	if expunged {
		return errExpungeIssued
	}
	return nil
}

// markSeen sets \Seen on the messages a FETCH reads the body of, when it
// may (RFC 9051 §6.4.5: BODY[...] and BINARY[...] without .PEEK set \Seen;
// never in a read-only selection, RFC 9051 §6.3.3). It returns the
// messages whose flags changed, for which FLAGS is then sent.
func (ss *session) markSeen(idx []int, options *imap.FetchOptions) (map[uint32]bool, error) {
	if ss.sel.readOnly || !setsSeen(options) {
		return nil, nil
	}
	v := ss.sel.v
	var uids []uint32
	for _, i := range idx {
		if !v.isGone(i) && !hasFlag(v.at(i).Flags, mailbox.FlagSeen) {
			uids = append(uids, v.uid(i))
		}
	}
	if len(uids) == 0 {
		return nil, nil
	}
	infos, err := ss.sel.folder.SetFlags(uids, mailbox.FlagsAdd, []string{mailbox.FlagSeen})
	if err != nil {
		return nil, ss.protoError("FETCH", ctxPlain, err)
	}
	v.setFlags(infos)
	out := make(map[uint32]bool, len(infos))
	for _, m := range infos {
		out[m.UID] = true
	}
	return out, nil
}

func setsSeen(o *imap.FetchOptions) bool {
	for _, s := range o.BodySection {
		if !s.Peek {
			return true
		}
	}
	for _, s := range o.BinarySection {
		if !s.Peek {
			return true
		}
	}
	return false
}

// fetchItem is a gathered body or binary section, ready to write.
type fetchItem struct {
	body   *imap.FetchItemBodySection
	binary *imap.FetchItemBinarySection
	size   int64
	data   []byte // the content when small (header fields), else:
	span   span   // a raw range of the file (BODY), or
	plan   binaryPlan
	skip   int64 // decoded octets to skip (BINARY partial)
}

// fetchOne writes one message's FETCH response; false if the message was
// found gone. utf8OK: the client takes UTF-8 in strings (downgrade.go).
func (ss *session) fetchOne(w *imapserver.FetchWriter, seq uint32, info mailbox.MessageInfo, o *imap.FetchOptions, seenChanged, utf8OK bool) (bool, error) {
	var (
		src      *msgSource
		items    []fetchItem
		meta     *msgMeta
		binSizes []int64
	)
	if readsContent(o) {
		src = &msgSource{folder: ss.sel.folder, uid: info.UID, bufs: &ss.srv.copyBufs}
		defer src.Close()
		var err error
		items, meta, binSizes, err = ss.gather(src, info, o)
		if errors.Is(err, mailbox.ErrNoMessage) {
			return false, nil
		}
		if err != nil {
			return false, ss.protoError("FETCH", ctxPlain, err)
		}
	}

	rw := w.CreateMessage(seq)
	if o.UID {
		rw.WriteUID(imap.UID(info.UID))
	}
	if o.Flags || seenChanged {
		rw.WriteFlags(wireFlags(info.Flags))
		delete(ss.sel.v.dirty, info.UID) // told now, not again by the poll
	}
	if o.InternalDate {
		rw.WriteInternalDate(info.InternalDate)
	}
	if o.RFC822Size {
		rw.WriteRFC822Size(info.Size)
	}
	if o.Envelope {
		rw.WriteEnvelope(wireEnvelope(meta.envelope, utf8OK))
	}
	if o.BodyStructure != nil {
		rw.WriteBodyStructure(wireStructure(meta.structure, utf8OK))
	}
	for i, bss := range o.BinarySectionSize {
		rw.WriteBinarySectionSize(bss, clampU32(binSizes[i]))
	}
	for _, it := range items {
		var lw io.WriteCloser
		var out io.Writer
		if it.body != nil {
			// A plain literal: no NUL (nul.go).
			lw = rw.WriteBodySection(it.body, it.size)
			out = &nulFilter{w: lw}
		} else {
			lw = rw.WriteBinarySection(it.binary, it.size)
			out = lw
		}
		if err := ss.writeItem(out, src, it); err != nil {
			// The literal's length is on the wire already: the response
			// cannot be finished honestly, so the connection ends.
			ss.log.Error("fetch: streaming message failed", "uid", info.UID, "err", err)
			ss.conn.NetConn().Close()
			return false, err
		}
		if err := lw.Close(); err != nil {
			return false, err
		}
	}
	return true, rw.Close()
}

// readsContent reports whether a FETCH needs more than the index has
// (UID, FLAGS, INTERNALDATE and RFC822.SIZE come from the index).
func readsContent(o *imap.FetchOptions) bool {
	return o.Envelope || o.BodyStructure != nil || len(o.BodySection) > 0 ||
		len(o.BinarySection) > 0 || len(o.BinarySectionSize) > 0
}

// gather reads what the response needs before it is begun.
func (ss *session) gather(src *msgSource, info mailbox.MessageInfo, o *imap.FetchOptions) ([]fetchItem, *msgMeta, []int64, error) {
	needMeta, needFull := o.Envelope, o.BodyStructure != nil
	for _, s := range o.BodySection {
		if len(s.Part) > 0 {
			needFull = true
		} else if s.Specifier != imap.PartSpecifierNone {
			needMeta = true
		}
	}
	for _, s := range o.BinarySection {
		needMeta = true
		needFull = needFull || len(s.Part) > 0
	}
	for _, s := range o.BinarySectionSize {
		needMeta = true
		needFull = needFull || len(s.Part) > 0
	}
	var meta *msgMeta
	if needMeta || needFull {
		var err error
		if meta, err = ss.meta(src, info, needFull, false); err != nil {
			return nil, nil, nil, err
		}
	}
	size := info.Size
	if len(o.BodySection) > 0 || len(o.BinarySection) > 0 {
		var err error
		if size, err = src.Size(); err != nil {
			return nil, nil, nil, err
		}
	}

	var items []fetchItem
	for _, s := range o.BodySection {
		it := fetchItem{body: s}
		sp := span{0, size}
		ok := true
		if meta != nil {
			sp, ok = bodySpan(meta.layout, size, s)
		}
		switch {
		case !ok:
			it.data = []byte{}
		case len(s.HeaderFields) > 0 || len(s.HeaderFieldsNot) > 0:
			raw, err := src.readSpan(sp, maxHeaderFetch)
			if err != nil {
				return nil, nil, nil, err
			}
			names, not := s.HeaderFields, false
			if len(names) == 0 {
				names, not = s.HeaderFieldsNot, true
			}
			it.data = partialBytes(filterHeader(raw, names, not), s.Partial)
		default:
			it.span = partialSpan(sp, s.Partial)
		}
		if it.data != nil {
			it.size = int64(len(it.data))
		} else {
			it.size = it.span.len()
		}
		items = append(items, it)
	}
	for _, s := range o.BinarySection {
		plan := planBinary(meta.layout, size, s.Part)
		total, err := src.binarySize(plan)
		if err != nil {
			return nil, nil, nil, err
		}
		it := fetchItem{binary: s, plan: plan, size: total}
		if p := s.Partial; p != nil {
			it.skip = min(max(p.Offset, 0), total)
			it.size = min(total-it.skip, max(p.Size, 0))
		}
		items = append(items, it)
	}
	var binSizes []int64
	for _, s := range o.BinarySectionSize {
		n, err := src.binarySize(planBinary(meta.layout, size, s.Part))
		if err != nil {
			return nil, nil, nil, err
		}
		binSizes = append(binSizes, n)
	}
	return items, meta, binSizes, nil
}

func (ss *session) writeItem(w io.Writer, src *msgSource, it fetchItem) error {
	switch {
	case it.data != nil:
		_, err := w.Write(it.data)
		return err
	case it.body != nil:
		return src.copySpan(w, it.span)
	}
	r, err := src.binaryReader(it.plan)
	if err != nil {
		return err
	}
	if it.skip > 0 {
		if _, err := io.CopyN(io.Discard, r, it.skip); err != nil {
			return shortErr(err)
		}
	}
	n, err := io.CopyN(w, r, it.size)
	if n != it.size {
		return errShortContent
	}
	return err
}

// meta gives the parsed structure of a message: from the server's LRU,
// else from the copy the store keeps (mailbox.MetaFolder), else by parsing
// the message (the header only, unless full), which is then kept in both.
// allHeaders: the caller needs every header field (SEARCH HEADER, TEXT),
// not only those the store's copy keeps.
func (ss *session) meta(src *msgSource, info mailbox.MessageInfo, full, allHeaders bool) (*msgMeta, error) {
	key := metaKey{user: ss.user, folder: ss.sel.name, validity: ss.sel.folder.UIDValidity(), uid: info.UID}
	usable := func(m *msgMeta) bool { return (m.full || !full) && (!m.trimmed || !allHeaders) }
	cached := ss.srv.cache.get(key)
	if cached != nil && usable(cached) {
		return cached, nil
	}
	mf, persist := ss.sel.folder.(mailbox.MetaFolder)
	var stored *msgMeta
	if persist {
		if b, ok := mf.Meta(info.UID); ok {
			m, err := decodeMeta(b, info.Size)
			if err != nil {
				ss.log.Warn("stored message structure unreadable; parsing again", "uid", info.UID)
			} else if stored = m; usable(m) {
				ss.srv.cache.put(key, m)
				return m, nil
			}
		}
	}
	r, size, err := src.whole()
	if err != nil {
		return nil, err
	}
	ss.srv.parses.Add(1)
	var root *entity
	if full {
		root, err = parseLayout(r)
	} else {
		root, err = parseHead(r, size)
	}
	if err != nil {
		return nil, err
	}
	m := newMeta(root, size, full)
	ss.srv.cache.put(key, m)
	// Keep it in the store unless the store has as much already.
	if persist && size == info.Size && (stored == nil || (full && !stored.full)) {
		if err := mf.SetMeta(info.UID, encodeMeta(m)); err != nil && !errors.Is(err, mailbox.ErrNoMessage) {
			ss.log.Warn("could not store message structure", "uid", info.UID, "err", err)
		}
	}
	return m, nil
}
