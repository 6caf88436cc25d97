package smtpd

import (
	"github.com/emersion/go-smtp"

	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// The submission sender policy (RFC 6409 §6.1 lets the submission server
// check that the sender is one the user may use; §8 covers the header).
// An authenticated user sends only as an address users.DB.MaySendAs allows
// them: their own, a subaddress of it, or an alias that reaches them. It
// is checked for the envelope sender at MAIL and for every address of the
// From header field at the end of DATA.

// maxHeaderSection bounds the header section read to check From.
const maxHeaderSection = 1 << 20

// checkSender applies the policy to the reverse-path of MAIL. The null
// sender is allowed: RFC 8098 §2.1 has MDNs (read receipts) sent with it,
// and nothing can bounce to it.
func (s *session) checkSender(from string) error {
	if from == "" {
		return nil
	}
	ok, err := s.opts.Users.MaySendAs(s.user, from)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %v", errUsersUnavailable, err)
	case !ok:
		return errSenderNotOwned
	}
	return nil
}

// readHeaderSection reads the message's header section from br, keeping
// its bytes exactly (they are stored and sent as they are), and parses it.
// A message that ends without a blank line is all header.
//
// The header ends where a receiver's parser ends it: at the first whole
// line that is empty (RFC 5322 §2.1: CRLF CRLF; a bare LF is taken as a
// line end too, as go-message and most MTAs do). A line longer than br's
// buffer arrives in pieces, and only a piece that starts a line can be
// that empty line: the "\r\n" left over from a 4095-octet field is the
// end of that field, not of the header. Otherwise a From field after it
// would go unchecked here yet be read (and DKIM-signed) by everyone else.
// Lines of any length are kept whole; only the whole section is bounded
// (maxHeaderSection, 552 beyond it).
func readHeaderSection(br *bufio.Reader) ([]byte, textproto.Header, error) {
	var raw bytes.Buffer
	atLineStart := true
	for {
		line, err := br.ReadSlice('\n')
		if raw.Len()+len(line) > maxHeaderSection {
			return nil, textproto.Header{}, errHeaderTooBig
		}
		raw.Write(line)
		if err == bufio.ErrBufferFull {
			atLineStart = false // a long line: the rest comes next
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, textproto.Header{}, err // the client's side (size, hang-up)
		}
		if atLineStart && isBlankLine(line) {
			break
		}
		atLineStart = true
	}
	parse := raw.Bytes()
	if !bytes.HasSuffix(parse, []byte("\n\r\n")) && !bytes.HasSuffix(parse, []byte("\n\n")) {
		parse = append(bytes.Clone(parse), "\r\n\r\n"...)
	}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(parse)))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, textproto.Header{}, fmt.Errorf("%w: %v", errBadHeader, err)
	}
	return raw.Bytes(), h, nil
}

// isBlankLine reports whether a whole line (with its line end) is empty:
// CRLF or a bare LF. "\r\r\n" is not: go-message reads it as a line
// holding a CR, which is no header field, and the header is refused.
func isBlankLine(line []byte) bool {
	return string(line) == "\r\n" || string(line) == "\n"
}

// checkFromHeader applies the policy to every address of every From field
// and returns the domain of the first (the DKIM signing domain; that of
// author, the address the From field added by addedFields names, when
// there is no From).
func (s *session) checkFromHeader(h textproto.Header, author string) (string, error) {
	domain := ""
	if at := strings.LastIndexByte(author, '@'); at >= 0 {
		domain = strings.ToLower(author[at+1:])
	}
	addrs, err := s.ownedAddresses(h, "From", errFromNotOwned)
	if err != nil {
		return "", err
	}
	if len(addrs) > 0 {
		a := addrs[0]
		domain = strings.ToLower(a[strings.LastIndexByte(a, '@')+1:])
	}
	// The other fields that name who sent the message (RFC 5322 §3.6.2,
	// §3.6.6) are held to the same policy: mail clients show "Sender on
	// behalf of From", and a resent message as from Resent-From.
	for _, name := range []string{"Sender", "Resent-From", "Resent-Sender"} {
		notOwned := &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
			Message: name + " header address rejected: not owned by the authenticated user"}
		if _, err := s.ownedAddresses(h, name, notOwned); err != nil {
			return "", err
		}
	}
	return domain, nil
}

// ownedAddresses returns the addresses of every field name in h, in
// order, once each is known to be the user's to send as; one that is not
// gives notOwned (wrapped, with the address, for the log).
func (s *session) ownedAddresses(h textproto.Header, name string, notOwned error) ([]string, error) {
	var out []string
	for _, v := range h.Values(name) {
		addrs, err := mail.ParseAddressList(v)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errBadHeader, name, err)
		}
		for _, a := range addrs {
			ok, err := s.opts.Users.MaySendAs(s.user, a.Address)
			switch {
			case err != nil:
				return nil, fmt.Errorf("%w: %v", errUsersUnavailable, err)
			case !ok:
				return nil, fmt.Errorf("%w: %s", notOwned, a.Address)
			}
			out = append(out, a.Address)
		}
	}
	return out, nil
}

// addedFields returns the header fields submission adds to a message that
// lacks them, CRLF-ended, and the address the From field names (the one
// found, or the one added). RFC 5322 §3.6 requires From and Date and asks
// for Message-ID; RFC 6409 §8 lets the submission server complete what
// the client left out (§8.2 Date, §8.3 Message-ID), as Postfix does. A
// message without From would otherwise go out with no author, and past
// the From policy: the added From is the envelope sender, which MAIL has
// checked, or, for the null sender, the authenticated user.
func addedFields(h textproto.Header, envelopeFrom, returnPath, user, id, hostname string, date time.Time) string {
	var b strings.Builder
	if !h.Has("From") {
		if envelopeFrom == "" {
			returnPath = "<" + user + ">"
		}
		b.WriteString("From: " + returnPath + "\r\n")
	}
	if !h.Has("Date") {
		b.WriteString("Date: " + date.Format(time.RFC1123Z) + "\r\n") // RFC 5322 §3.3
	}
	if !h.Has("Message-Id") {
		// RFC 5322 §3.6.4: unique; the queue id is 80 random bits.
		b.WriteString("Message-ID: <" + id + "@" + hostname + ">\r\n")
	}
	return b.String()
}

// fieldNames lists the names of the CRLF-ended fields in fields, for the
// log (the values hold addresses, which the log has already).
func fieldNames(fields string) []string {
	var names []string
	for _, line := range strings.Split(strings.TrimSuffix(fields, "\r\n"), "\r\n") {
		name, _, _ := strings.Cut(line, ":")
		names = append(names, name)
	}
	return names
}
