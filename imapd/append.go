package imapd

import (
	"errors"
	"io"
	"time"

	"github.com/emersion/go-imap/v2"
)

var (
	errEmptyAppend = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: imap.ResponseCodeCannot,
		Text: "Empty message not stored",
	}
	// RFC 9051 §4.3: a literal that is not literal8 cannot carry NUL. The
	// library drops the "~" of a literal8 (RFC 3516 §4.4) before the
	// session sees the APPEND, so a NUL is refused whichever the client
	// sent; RFC 3516 §4.4 names the answer for a literal8 whose binary
	// content the mailbox cannot keep: NO [UNKNOWN-CTE], upon which a
	// client sends the message again with its binary parts encoded.
	errNULAppend = &imap.Error{
		Type: imap.StatusResponseTypeNo,
		Code: imap.ResponseCodeUnknownCTE,
		Text: "Message contains NUL octets; encode binary parts (base64) and try again",
	}
	// Not seen in practice: the connection has ended.
	errCutAppend = &imap.Error{
		Type: imap.StatusResponseTypeBad,
		Text: "Literal ended early; message not stored",
	}
)

// Append stores a message (RFC 9051 §6.3.12) and answers APPENDUID (RFC
// 4315 §3). The library has already refused a literal over AppendLimit
// with TOOBIG before asking the client for it; the store enforces its own
// limits while reading. A missing folder is TRYCREATE. Whatever is
// refused here is refused before any octet reaches the store (the library
// then reads and discards the literal).
func (ss *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	defer ss.begin()()
	if ss.corker != nil {
		ss.corker.guard.appendStarted()
	}
	var flags []string
	date := time.Now()
	if options != nil {
		if err := checkFlags(options.Flags); err != nil {
			return nil, err
		}
		flags = storeFlags(options.Flags)
		if !options.Time.IsZero() {
			date = options.Time
		}
	}
	if r.Size() == 0 {
		return nil, errEmptyAppend
	}
	if r.Size() > ss.srv.opts.AppendLimit {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too big"}
	}
	lit := &wholeLiteral{r: r, left: r.Size()}
	validity, uid, err := ss.account.Append(name, &nulGuard{r: lit}, flags, date)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// No one is left to answer.
		ss.log.Debug("append cut off", "folder", name, "size", r.Size(), "received", r.Size()-lit.left)
		return nil, errCutAppend
	}
	if errors.Is(err, errNULOctet) {
		ss.log.Debug("append refused: NUL in message", "folder", name)
		return nil, errNULAppend
	}
	if err != nil {
		return nil, ss.protoError("APPEND", ctxTarget, err)
	}
	ss.log.Debug("appended", "folder", name, "uid", uid, "size", r.Size())
	return &imap.AppendData{UID: imap.UID(uid), UIDValidity: validity}, nil
}

// wholeLiteral reads an APPEND literal and fails with io.ErrUnexpectedEOF
// when the connection ends before the size the client announced (RFC 9051
// §4.3: a literal is exactly that many octets). The library's literal
// reader ends there as if the literal were whole; the store keeps nothing
// of a message whose read failed.
type wholeLiteral struct {
	r    io.Reader
	left int64
}

func (w *wholeLiteral) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	w.left -= int64(n)
	if err == io.EOF && w.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
