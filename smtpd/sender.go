package smtpd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

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
func readHeaderSection(br *bufio.Reader) ([]byte, textproto.Header, error) {
	var raw bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		if raw.Len()+len(line) > maxHeaderSection {
			return nil, textproto.Header{}, errHeaderTooBig
		}
		raw.Write(line)
		if err == bufio.ErrBufferFull {
			continue // a long line: the rest comes next
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, textproto.Header{}, err // the client's side (size, hang-up)
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
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

// checkFromHeader applies the policy to every address of every From field
// and returns the domain of the first (the DKIM signing domain; the
// envelope sender's when there is no From).
func (s *session) checkFromHeader(h textproto.Header, envelopeFrom string) (string, error) {
	domain := ""
	if at := strings.LastIndexByte(envelopeFrom, '@'); at >= 0 {
		domain = strings.ToLower(envelopeFrom[at+1:])
	}
	first := true
	for _, v := range h.Values("From") {
		addrs, err := mail.ParseAddressList(v)
		if err != nil {
			return "", fmt.Errorf("%w: From: %v", errBadHeader, err)
		}
		for _, a := range addrs {
			ok, err := s.opts.Users.MaySendAs(s.user, a.Address)
			switch {
			case err != nil:
				return "", fmt.Errorf("%w: %v", errUsersUnavailable, err)
			case !ok:
				return "", fmt.Errorf("%w: %s", errFromNotOwned, a.Address)
			}
			if first {
				first = false
				domain = strings.ToLower(a.Address[strings.LastIndexByte(a.Address, '@')+1:])
			}
		}
	}
	return domain, nil
}
