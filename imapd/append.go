package imapd

import (
	"errors"
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
	validity, uid, err := ss.account.Append(name, &nulGuard{r: r}, flags, date)
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
