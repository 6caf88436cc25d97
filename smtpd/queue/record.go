package queue

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// recordVersion is the format of the envelope files this code writes and
// reads.
const recordVersion = 1

// Status is where one recipient stands.
type Status string

const (
	StatusQueued Status = "queued" // not yet delivered; retried at Next
	StatusSent   Status = "sent"   // the remote said 250 after the data
	StatusFailed Status = "failed" // permanent failure or lifetime over
)

// Body types recorded at submission (RFC 6152 §2: the BODY parameter).
const (
	Body7Bit     = "7bit"     // every octet is below 128
	Body8BitMIME = "8bitmime" // some octet is 128 or above
)

// TLS results recorded for a delivery.
const (
	TLSVerified   = "verified"       // STARTTLS or TLS, certificate valid for the host
	TLSUnverified = "tls-unverified" // encrypted, certificate not valid for the host
	TLSPlain      = "plain"          // no TLS
)

// Record is a message's envelope and the state of each recipient: the
// content of mail/ID.env, JSON. It is replaced atomically after every
// attempt; see parseRecord for what a valid one holds.
type Record struct {
	Version int       `json:"v"`
	ID      string    `json:"id"`
	From    string    `json:"from"` // reverse-path; "" is the null sender <>
	User    string    `json:"user"` // the authenticated user; DSNs go to their INBOX
	Created time.Time `json:"created"`
	UTF8    bool      `json:"smtputf8,omitempty"` // needs SMTPUTF8 (RFC 6531)
	// Body is Body7Bit or Body8BitMIME, found while the message was
	// spooled; "" in envelopes written before it was recorded (the
	// message is then scanned once at its next attempt).
	Body string `json:"body,omitempty"`
	Size int64  `json:"size"` // octets of ID.msg
	// DKIM holds DKIM-Signature header fields, each with its CRLF, sent
	// before the message.
	DKIM   []string `json:"dkim,omitempty"`
	Warned bool     `json:"warned,omitempty"` // the delay warning went out
	Rcpts  []Rcpt   `json:"rcpts"`
}

// Rcpt is one recipient's state.
type Rcpt struct {
	Addr     string    `json:"addr"`
	Status   Status    `json:"status"`
	Attempts int       `json:"attempts,omitempty"`
	Next     time.Time `json:"next,omitzero"` // next attempt, when queued
	Last     time.Time `json:"last,omitzero"` // last attempt
	// Code is the enhanced status code (RFC 3463) of the last result.
	Code string `json:"code,omitempty"`
	// Reply is the remote's reply to the last attempt, as one line.
	Reply string `json:"reply,omitempty"`
	// Error says in words what went wrong last (for DSNs, queue list).
	Error  string `json:"error,omitempty"`
	Remote string `json:"remote,omitempty"` // the host that answered last
	TLS    string `json:"tls,omitempty"`    // TLS* of the last connection
	// Notified: the sender was told of the failure.
	Notified bool `json:"notified,omitempty"`
}

// Done reports whether the recipient needs no more work.
func (r *Rcpt) Done() bool {
	return r.Status == StatusSent || r.Status == StatusFailed && r.Notified
}

// Limits on what a record may hold.
const (
	maxRecordSize = 1 << 20
	maxRcpts      = 10000
	maxAddrLen    = 512 // generous: RFC 5321 §4.5.3.1.3 allows 256 with brackets
	maxTextLen    = 1024
	maxDKIMLen    = 16 << 10
	maxIDLen      = 64
)

var errRecord = errors.New("queue: malformed envelope")

func recordErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errRecord, fmt.Sprintf(format, args...))
}

// encode returns the file content for r.
func (r *Record) encode() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// parseRecord reads an envelope file and checks everything the delivery
// relies on: addresses that cannot inject anything into an SMTP command,
// known statuses, DKIM fields that are header fields and nothing else. A
// file written by an older or newer version, or edited by hand into
// something else, is refused with the reason.
func parseRecord(data []byte) (*Record, error) {
	if len(data) > maxRecordSize {
		return nil, recordErr("larger than %d bytes", maxRecordSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return nil, recordErr("%v", err)
	}
	if dec.More() {
		return nil, recordErr("data after the envelope")
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	// One form for what means the same: times in UTC, no empty lists.
	r.Created = r.Created.UTC()
	if len(r.DKIM) == 0 {
		r.DKIM = nil
	}
	for i := range r.Rcpts {
		r.Rcpts[i].Next = r.Rcpts[i].Next.UTC()
		r.Rcpts[i].Last = r.Rcpts[i].Last.UTC()
	}
	return &r, nil
}

func (r *Record) validate() error {
	if r.Version != recordVersion {
		return recordErr("version %d, this program reads %d", r.Version, recordVersion)
	}
	if !validID(r.ID) {
		return recordErr("bad id %q", r.ID)
	}
	if r.From != "" {
		if err := checkAddr(r.From); err != nil {
			return recordErr("sender: %v", err)
		}
	}
	if r.User != "" {
		if err := checkAddr(r.User); err != nil {
			return recordErr("user: %v", err)
		}
	}
	if r.Created.IsZero() {
		return recordErr("no creation time")
	}
	if r.Size < 0 {
		return recordErr("negative size")
	}
	switch r.Body {
	case "", Body7Bit, Body8BitMIME:
	default:
		return recordErr("unknown body type %q", r.Body)
	}
	total := 0
	for _, h := range r.DKIM {
		total += len(h)
		if err := checkHeaderField(h, "DKIM-Signature:"); err != nil {
			return recordErr("dkim: %v", err)
		}
	}
	if total > maxDKIMLen {
		return recordErr("dkim fields longer than %d bytes", maxDKIMLen)
	}
	if len(r.Rcpts) == 0 || len(r.Rcpts) > maxRcpts {
		return recordErr("%d recipients", len(r.Rcpts))
	}
	for i := range r.Rcpts {
		rc := &r.Rcpts[i]
		if err := checkAddr(rc.Addr); err != nil {
			return recordErr("recipient %d: %v", i, err)
		}
		switch rc.Status {
		case StatusQueued, StatusSent, StatusFailed:
		default:
			return recordErr("recipient %d: unknown status %q", i, rc.Status)
		}
		if rc.Attempts < 0 {
			return recordErr("recipient %d: negative attempts", i)
		}
		switch rc.TLS {
		case "", TLSVerified, TLSUnverified, TLSPlain:
		default:
			return recordErr("recipient %d: unknown tls %q", i, rc.TLS)
		}
		if rc.Code != "" && !validStatusCode(rc.Code) {
			return recordErr("recipient %d: bad status code %q", i, rc.Code)
		}
		for _, s := range []string{rc.Reply, rc.Error, rc.Remote} {
			if !safeText(s, maxTextLen) {
				return recordErr("recipient %d: control characters or overlong text", i)
			}
		}
	}
	return nil
}

// checkAddr accepts what may go between the angle brackets of MAIL FROM or
// RCPT TO: local@domain with no space, control character, angle bracket
// or invalid UTF-8.
func checkAddr(a string) error {
	switch {
	case a == "":
		return errors.New("empty address")
	case len(a) > maxAddrLen:
		return errors.New("address too long")
	case !utf8.ValidString(a):
		return errors.New("address is not UTF-8")
	case strings.ContainsAny(a, " <>\t"):
		return errors.New("space or angle bracket in address")
	case hasControl(a):
		return errors.New("control character in address")
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return errors.New("address is not local@domain")
	}
	return nil
}

// checkHeaderField accepts one header field that starts with prefix (case
// insensitive), ends with CRLF, and has a CR or LF only as CRLF followed by
// a space or tab (folding, RFC 5322 §2.2.3).
func checkHeaderField(h, prefix string) error {
	if len(h) < len(prefix)+2 || !strings.EqualFold(h[:len(prefix)], prefix) {
		return fmt.Errorf("not a %s header field", prefix)
	}
	if !strings.HasSuffix(h, "\r\n") {
		return errors.New("header field does not end with CRLF")
	}
	body := h[:len(h)-2]
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '\r':
			if i+2 >= len(body) || body[i+1] != '\n' || (body[i+2] != ' ' && body[i+2] != '\t') {
				return errors.New("bare CR or LF, or a line break not followed by white space")
			}
			i++
		case c == '\n':
			return errors.New("bare LF in header field")
		case c < 0x20 && c != '\t', c >= 0x7f:
			return errors.New("control or non-ASCII character in header field")
		}
	}
	return nil
}

// validStatusCode accepts an RFC 3463 status code: class.subject.detail
// with class 2, 4 or 5 and up to three digits each.
func validStatusCode(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return false
	}
	for _, p := range parts[1:] {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// safeText accepts UTF-8 text without control characters, at most max
// bytes.
func safeText(s string, max int) bool {
	return len(s) <= max && utf8.ValidString(s) && !hasControl(s)
}

// hasControl reports ASCII and C1 control characters (CR and LF among
// them) and DEL.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return true
		}
	}
	return false
}

// cleanText turns text from the network (a remote reply, an error) into
// one line that safeText accepts: line breaks become "; ", other control
// characters and invalid UTF-8 become '?', and it is cut to max bytes.
func cleanText(s string, max int) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	lastSep := false
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n':
			if !lastSep {
				b.WriteString("; ")
				lastSep = true
			}
			continue
		case r == utf8.RuneError, r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
			r = '?'
		}
		lastSep = false
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// validID accepts queue ids: 1 to 64 letters and digits. Ids name files,
// so nothing else is allowed.
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// NewID returns a fresh queue id: 16 base32 characters (80 random bits),
// the form smtpd uses in its Received header field and replies.
func NewID() string { return rand.Text()[:16] }

// randomID returns n random base32 characters for temporary names.
func randomID(n int) string { return rand.Text()[:n] }
