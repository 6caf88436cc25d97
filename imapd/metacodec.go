package imapd

import (
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
)

// The form in which a message's parsed structure is kept in the store
// (mailbox.MetaFolder, beside the UID index), so that ENVELOPE,
// BODYSTRUCTURE and the part map are computed once per message and not
// again after a restart: the MIME layout (the offsets of every entity)
// with, for each entity, what BODYSTRUCTURE says of it, and the ENVELOPE
// of each entity that is a message. Nothing is parsed to read it back.
//
// A meta decoded from this form is "trimmed": it has no header fields, so
// SEARCH HEADER and TEXT, which need them, read the message (search.go).
//
//	meta   = version:byte flags:byte size:uvarint entity
//	entity = headerStart bodyStart end bodyLines:uvarint
//	         type subtype encoding:str params:map
//	         id description location:str disposition language:strs
//	         envelope:(0 | 1 env)
//	         parts:uvarint entity*  message:(0 | 1 entity)
//	env    = date:(0 | 1 unix:varint nsec:uvarint offset:varint zone:str)
//	         subject messageId:str inReplyTo:strs
//	         from sender replyTo to cc bcc:addrs
//	str    = len:uvarint octets
//	strs   = 0 (none) | n+1 str*n;  map = 0 (none) | n+1 (key:str value:str)*n
//	addrs  = 0 (none) | n+1 (name mailbox host:str)*n
//	disposition = 0 (none) | 1 value:str params:map
//
// Counts are written plus one so that an absent list and an empty one stay
// apart: the library writes them differently (NIL, or From for Sender).
const (
	metaCodecVersion = 2
	metaFlagFull     = 1
)

var errBadMeta = errors.New("imapd: stored message structure does not decode")

func encodeMeta(m *msgMeta) []byte {
	e := &metaEncoder{buf: make([]byte, 0, 512)}
	flags := byte(0)
	if m.full {
		flags |= metaFlagFull
	}
	e.buf = append(e.buf, metaCodecVersion, flags)
	e.uvarint(uint64(m.size))
	e.entity(m.layout)
	return e.buf
}

type metaEncoder struct{ buf []byte }

func (e *metaEncoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *metaEncoder) varint(v int64)   { e.buf = binary.AppendVarint(e.buf, v) }
func (e *metaEncoder) str(s string)     { e.uvarint(uint64(len(s))); e.buf = append(e.buf, s...) }
func (e *metaEncoder) flag(b bool) {
	if b {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

func (e *metaEncoder) strs(ss []string) {
	if ss == nil {
		e.uvarint(0)
		return
	}
	e.uvarint(uint64(len(ss)) + 1)
	for _, s := range ss {
		e.str(s)
	}
}

func (e *metaEncoder) params(m map[string]string) {
	if m == nil {
		e.uvarint(0)
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.uvarint(uint64(len(keys)) + 1)
	for _, k := range keys {
		e.str(k)
		e.str(m[k])
	}
}

func (e *metaEncoder) addrs(as []imap.Address) {
	if as == nil {
		e.uvarint(0)
		return
	}
	e.uvarint(uint64(len(as)) + 1)
	for _, a := range as {
		e.str(a.Name)
		e.str(a.Mailbox)
		e.str(a.Host)
	}
}

func (e *metaEncoder) envelope(env *imap.Envelope) {
	e.flag(!env.Date.IsZero())
	if !env.Date.IsZero() {
		name, off := env.Date.Zone()
		e.varint(env.Date.Unix())
		e.uvarint(uint64(env.Date.Nanosecond()))
		e.varint(int64(off))
		e.str(name)
	}
	e.str(env.Subject)
	e.str(env.MessageID)
	e.strs(env.InReplyTo)
	for _, as := range [][]imap.Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		e.addrs(as)
	}
}

func (e *metaEncoder) entity(n *entity) {
	for _, v := range []int64{n.HeaderStart, n.BodyStart, n.End, n.BodyLines} {
		e.uvarint(uint64(max(v, 0)))
	}
	e.str(n.Type)
	e.str(n.Subtype)
	e.str(n.Encoding)
	e.params(n.Params)
	e.str(n.ID)
	e.str(n.Description)
	e.str(n.Location)
	e.flag(n.Disposition != nil)
	if d := n.Disposition; d != nil {
		e.str(d.Value)
		e.params(d.Params)
	}
	e.strs(n.Language)
	e.flag(n.Envelope != nil)
	if n.Envelope != nil {
		e.envelope(n.Envelope)
	}
	e.uvarint(uint64(len(n.Parts)))
	for _, p := range n.Parts {
		e.entity(p)
	}
	e.flag(n.Message != nil)
	if n.Message != nil {
		e.entity(n.Message)
	}
}

// decodeMeta reads the stored form. size is the message's size now; a
// record made for another size is refused.
func decodeMeta(b []byte, size int64) (*msgMeta, error) {
	if len(b) < 2 || b[0] != metaCodecVersion {
		return nil, errBadMeta
	}
	d := &metaDecoder{b: b[2:]}
	full := b[1]&metaFlagFull != 0
	if int64(d.uvarint()) != size || d.err != nil {
		return nil, errBadMeta
	}
	root := d.entity(0, size)
	if d.err != nil || len(d.b) != 0 || root.Envelope == nil {
		return nil, errBadMeta
	}
	m := metaOf(root, size, full)
	m.trimmed = true
	return m, nil
}

type metaDecoder struct {
	b        []byte
	entities int
	err      error
}

func (d *metaDecoder) fail() { d.err = errBadMeta }

func (d *metaDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *metaDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *metaDecoder) flag() bool {
	if d.err != nil || len(d.b) == 0 || d.b[0] > 1 {
		d.fail()
		return false
	}
	f := d.b[0] == 1
	d.b = d.b[1:]
	return f
}

func (d *metaDecoder) str() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// items reads a count written plus one; -1 for none. Each item takes at
// least one octet, which bounds what a damaged count can allocate.
func (d *metaDecoder) items() int {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b))+1 {
		d.fail()
		return -1
	}
	return int(n) - 1
}

func (d *metaDecoder) strs() []string {
	n := d.items()
	if n < 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.str())
	}
	return out
}

func (d *metaDecoder) params() map[string]string {
	n := d.items()
	if n < 0 {
		return nil
	}
	out := make(map[string]string, n)
	for i := 0; i < n && d.err == nil; i++ {
		k := d.str()
		out[k] = d.str()
	}
	return out
}

func (d *metaDecoder) addrs() []imap.Address {
	n := d.items()
	if n < 0 {
		return nil
	}
	out := make([]imap.Address, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, imap.Address{Name: d.str(), Mailbox: d.str(), Host: d.str()})
	}
	return out
}

func (d *metaDecoder) envelope() *imap.Envelope {
	env := &imap.Envelope{}
	if d.flag() {
		sec, nsec, off := d.varint(), d.uvarint(), d.varint()
		zoneName := d.str()
		if nsec >= 1e9 || off < -86400 || off > 86400 {
			d.fail()
			return env
		}
		env.Date = time.Unix(sec, int64(nsec)).In(time.FixedZone(zoneName, int(off)))
	}
	env.Subject = d.str()
	env.MessageID = d.str()
	env.InReplyTo = d.strs()
	for _, as := range []*[]imap.Address{&env.From, &env.Sender, &env.ReplyTo, &env.To, &env.Cc, &env.Bcc} {
		*as = d.addrs()
	}
	return env
}

func (d *metaDecoder) entity(depth int, size int64) *entity {
	d.entities++
	if depth > maxMIMEDepth+1 || d.entities > maxMIMEEntities+1 {
		d.fail()
	}
	e := &entity{
		HeaderStart: int64(d.uvarint()),
		BodyStart:   int64(d.uvarint()),
		End:         int64(d.uvarint()),
		BodyLines:   int64(d.uvarint()),
	}
	if e.HeaderStart < 0 || e.HeaderStart > e.BodyStart || e.BodyStart > e.End || e.End > size || e.BodyLines < 0 {
		d.fail()
	}
	e.Type, e.Subtype, e.Encoding = d.str(), d.str(), d.str()
	e.Params = d.params()
	e.ID, e.Description, e.Location = d.str(), d.str(), d.str()
	if d.flag() {
		e.Disposition = &imap.BodyStructureDisposition{Value: d.str(), Params: d.params()}
	}
	e.Language = d.strs()
	if d.flag() {
		e.Envelope = d.envelope()
	}
	parts := d.uvarint()
	if parts > uint64(len(d.b)) {
		d.fail()
	}
	for i := uint64(0); i < parts && d.err == nil; i++ {
		e.Parts = append(e.Parts, d.entity(depth+1, size))
	}
	if d.flag() && d.err == nil {
		e.Message = d.entity(depth+1, size)
	}
	return e
}
