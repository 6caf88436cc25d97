package imapd

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailsuite/mailsuite/mailbox"
)

// Search answers SEARCH and UID SEARCH (RFC 9051 §6.4.4) with ESEARCH
// return options (RFC 4731) and SAVE (RFC 5182). The library parses the
// keys; "$" reaches us as a UID set and "*" as 0, both resolved here.
//
// Known limits: there is no \Recent, so RECENT and NEW match nothing and
// OLD everything (RFC 9051 dropped \Recent); only text parts are searched
// by BODY and TEXT.
func (ss *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	defer ss.begin()()
	defer ss.cork()()
	if ss.sel == nil {
		return nil, errNotSelected
	}
	save := options != nil && options.ReturnSave
	if save {
		// RFC 5182 §2.1: a SEARCH with SAVE that fails leaves $ empty.
		ss.saved = nil
	}
	if err := ss.sync(); err != nil {
		return nil, ss.protoError("SEARCH", ctxPlain, err)
	}
	v := ss.sel.v
	sr := &searcher{ss: ss, count: uint32(v.count())}
	if n := v.count(); n > 0 {
		sr.maxUID = v.uid(n - 1)
	}
	sr.bodyNeedles, sr.textNeedles = needles(criteria)
	var seqs, uids []uint32
	for i := range v.count() {
		if v.isGone(i) {
			continue
		}
		sm := &searchMsg{seq: uint32(i + 1), info: v.at(i)}
		ok, err := sr.match(sm, criteria)
		sm.close()
		if errors.Is(err, mailbox.ErrNoMessage) {
			continue // expunged meanwhile: not found
		}
		if err != nil {
			return nil, ss.protoError("SEARCH", ctxPlain, err)
		}
		if ok {
			seqs = append(seqs, sm.seq)
			uids = append(uids, sm.info.UID)
		}
	}

	data := &imap.SearchData{Count: uint32(len(uids))}
	nums := seqs
	if kind == imapserver.NumKindUID {
		nums = uids
		data.All = uidSetOf(uids)
	} else {
		data.All = seqSetOf(seqs)
	}
	if len(nums) > 0 {
		data.Min, data.Max = nums[0], nums[len(nums)-1]
	}
	if save {
		ss.saved = savedResult(uids, options)
	}
	return data, nil
}

// savedResult is what SAVE keeps (RFC 5182 §2.4): with MIN or MAX but
// neither ALL nor COUNT, only those messages; otherwise all found.
func savedResult(uids []uint32, o *imap.SearchOptions) []uint32 {
	if len(uids) == 0 {
		return nil
	}
	if (o.ReturnMin || o.ReturnMax) && !o.ReturnAll && !o.ReturnCount {
		var out []uint32
		if o.ReturnMin {
			out = append(out, uids[0])
		}
		if o.ReturnMax && (len(out) == 0 || uids[len(uids)-1] != out[0]) {
			out = append(out, uids[len(uids)-1])
		}
		return out
	}
	return append([]uint32(nil), uids...)
}

// searcher evaluates criteria for the messages of one SEARCH.
type searcher struct {
	ss                       *session
	count, maxUID            uint32
	bodyNeedles, textNeedles []string
	fieldNames               map[string]string // HEADER key -> field cache name ("": not cached)
}

// searchMsg is one message being tested; content is read only when a key
// needs it, and at most once.
type searchMsg struct {
	seq      uint32
	info     mailbox.MessageInfo
	src      *msgSource
	meta     *msgMeta
	head     *entity // the header alone, for HEADER keys
	scanned  bool
	bodyHits map[string]bool
	textHits map[string]bool
}

func (m *searchMsg) close() {
	if m.src != nil {
		m.src.Close()
	}
}

// match tests one message; cheap keys first, content last.
func (sr *searcher) match(m *searchMsg, c *imap.SearchCriteria) (bool, error) {
	for _, set := range c.SeqNum {
		if !inSeqSet(set, m.seq, sr.count) {
			return false, nil
		}
	}
	for _, set := range c.UID {
		if imap.IsSearchRes(set) {
			if !containsUID(sr.ss.saved, m.info.UID) {
				return false, nil
			}
		} else if !inUIDSet(set, m.info.UID, sr.maxUID) {
			return false, nil
		}
	}
	for _, f := range c.Flag {
		if strings.EqualFold(string(f), flagRecent) || !hasFlag(m.info.Flags, string(f)) {
			return false, nil
		}
	}
	for _, f := range c.NotFlag {
		if !strings.EqualFold(string(f), flagRecent) && hasFlag(m.info.Flags, string(f)) {
			return false, nil
		}
	}
	// RFC 9051 §6.4.4 LARGER/SMALLER compare RFC822.SIZE.
	if c.Larger > 0 && m.info.Size <= c.Larger {
		return false, nil
	}
	if c.Smaller > 0 && m.info.Size >= c.Smaller {
		return false, nil
	}
	// BEFORE/ON/SINCE: the internal date, "disregarding time and timezone".
	if !dateIn(m.info.InternalDate, c.Since, c.Before) {
		return false, nil
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		meta, err := sr.meta(m)
		if err != nil {
			return false, err
		}
		// SENTBEFORE/SENTON/SENTSINCE: the Date: header, same rule; a
		// message without a usable one matches none of them.
		d := meta.envelope.Date
		if d.IsZero() || !dateIn(d, c.SentSince, c.SentBefore) {
			return false, nil
		}
	}
	for _, h := range c.Header {
		values, err := sr.fieldValues(m, h.Key)
		if err != nil {
			return false, err
		}
		if !valuesHave(values, h.Value) {
			return false, nil
		}
	}
	if len(c.Body) > 0 || len(c.Text) > 0 {
		if err := sr.scan(m); err != nil {
			return false, err
		}
		for _, s := range c.Body {
			if !m.bodyHits[s] {
				return false, nil
			}
		}
		for _, s := range c.Text {
			if !m.textHits[s] {
				return false, nil
			}
		}
	}
	for i := range c.Not {
		ok, err := sr.match(m, &c.Not[i])
		if err != nil || ok {
			return false, err
		}
	}
	for i := range c.Or {
		ok, err := sr.match(m, &c.Or[i][0])
		if err != nil {
			return false, err
		}
		if !ok {
			if ok, err = sr.match(m, &c.Or[i][1]); err != nil || !ok {
				return false, err
			}
		}
	}
	return true, nil
}

func (sr *searcher) source(m *searchMsg) *msgSource {
	if m.src == nil {
		m.src = &msgSource{folder: sr.ss.sel.folder, uid: m.info.UID}
	}
	return m.src
}

func (sr *searcher) meta(m *searchMsg) (*msgMeta, error) {
	if m.meta == nil {
		meta, err := sr.ss.meta(sr.source(m), m.info, false, false)
		if err != nil {
			return nil, err
		}
		m.meta = meta
	}
	return m.meta, nil
}

// header is the message's top-level entity with every header field, for
// HEADER keys: from a structure already at hand that kept them all, or
// read from the file's header alone. It is not cached: a HEADER search of
// a big folder would otherwise push every message's structure through the
// shared cache (and its size limit) and parse envelopes nobody asked for.
func (sr *searcher) header(m *searchMsg) (*entity, error) {
	if m.meta != nil && !m.meta.trimmed {
		return m.meta.layout, nil
	}
	if m.head != nil {
		return m.head, nil
	}
	r, size, err := sr.source(m).whole()
	if err != nil {
		return nil, err
	}
	if m.head, err = parseHead(r, size); err != nil {
		return nil, err
	}
	return m.head, nil
}

// fieldValues returns the decoded values of the message's fields named
// key: from the server's field cache (fieldcache.go), else from its header.
func (sr *searcher) fieldValues(m *searchMsg, key string) ([]string, error) {
	ss := sr.ss
	field, cacheable := sr.fieldName(key)
	k := fieldKey{
		metaKey: metaKey{user: ss.user, folder: ss.sel.name, validity: ss.sel.folder.UIDValidity(), uid: m.info.UID},
		field:   field,
	}
	if cacheable {
		if values, ok := ss.srv.fields.get(k, m.info.Size); ok {
			return values, nil
		}
	}
	head, err := sr.header(m)
	if err != nil {
		return nil, err
	}
	values := fieldValues(head, key)
	if cacheable {
		ss.srv.fields.put(k, m.info.Size, values)
	}
	return values, nil
}

// fieldName is the field cache's name for a HEADER key, made once per
// search (every entry of the search shares the string): ASCII lower case.
// Field names are matched with strings.EqualFold; two ASCII names with the
// same lower case match the same fields, so they may share entries. A
// name with other characters is not cached (lower case and EqualFold's
// folding disagree there: "İ" lowers to "i", which it does not fold to).
func (sr *searcher) fieldName(key string) (string, bool) {
	if f, ok := sr.fieldNames[key]; ok {
		return f, f != ""
	}
	f := ""
	if isASCII(key) {
		f = strings.ToLower(key)
	}
	if sr.fieldNames == nil {
		sr.fieldNames = make(map[string]string)
	}
	sr.fieldNames[key] = f
	return f, f != ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// scan searches the message text once for every BODY and TEXT string of
// the whole SEARCH.
func (sr *searcher) scan(m *searchMsg) error {
	if m.scanned {
		return nil
	}
	m.scanned = true
	// TEXT reads every header; BODY needs only the part map.
	meta, err := sr.ss.meta(sr.source(m), m.info, true, len(sr.textNeedles) > 0)
	if err != nil {
		return err
	}
	m.meta = meta
	body := newFoldMatcher(append(append([]string(nil), sr.bodyNeedles...), sr.textNeedles...))
	var text *foldMatcher
	if len(sr.textNeedles) > 0 {
		text = newFoldMatcher(sr.textNeedles)
	}
	if err := scanText(sr.source(m), meta.layout, body, text); err != nil {
		return err
	}
	m.bodyHits = make(map[string]bool)
	m.textHits = make(map[string]bool)
	for i, s := range sr.bodyNeedles {
		m.bodyHits[s] = body.found[i]
	}
	for i, s := range sr.textNeedles {
		m.textHits[s] = body.found[len(sr.bodyNeedles)+i] || text.found[i]
	}
	return nil
}

// needles lists the BODY and TEXT strings anywhere in the criteria.
func needles(c *imap.SearchCriteria) (body, text []string) {
	var walk func(c *imap.SearchCriteria)
	walk = func(c *imap.SearchCriteria) {
		body = append(body, c.Body...)
		text = append(text, c.Text...)
		for i := range c.Not {
			walk(&c.Not[i])
		}
		for i := range c.Or {
			walk(&c.Or[i][0])
			walk(&c.Or[i][1])
		}
	}
	walk(c)
	return body, text
}

// dateIn compares dates only (RFC 9051 §6.4.4: "disregarding time and
// timezone"): t's calendar date in its own zone, against the UTC dates
// the library parses.
func dateIn(t, since, before time.Time) bool {
	if since.IsZero() && before.IsZero() {
		return true
	}
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if !since.IsZero() && d.Before(since) {
		return false
	}
	if !before.IsZero() && !d.Before(before) {
		return false
	}
	return true
}

// containsUID looks uid up in ascending uids.
func containsUID(uids []uint32, uid uint32) bool {
	_, ok := slices.BinarySearch(uids, uid)
	return ok
}
