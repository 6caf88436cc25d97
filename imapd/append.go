package imapd

import (
	"time"

	"github.com/emersion/go-imap/v2"
)

// Append stores a message (RFC 9051 §6.3.12) and answers APPENDUID (RFC
// 4315 §3). The library has already refused a literal over AppendLimit
// with TOOBIG before asking the client for it; the store enforces its own
// limits while reading. A missing folder is TRYCREATE.
func (ss *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	defer ss.begin()()
	var flags []string
	date := time.Now()
	if options != nil {
		flags = storeFlags(options.Flags)
		if !options.Time.IsZero() {
			date = options.Time
		}
	}
	if r.Size() > ss.srv.opts.AppendLimit {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too big"}
	}
	validity, uid, err := ss.account.Append(name, r, flags, date)
	if err != nil {
		return nil, ss.protoError("APPEND", ctxTarget, err)
	}
	ss.log.Debug("appended", "folder", name, "uid", uid, "size", r.Size())
	return &imap.AppendData{UID: imap.UID(uid), UIDValidity: validity}, nil
}
