package queue

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
)

// 8BITMIME (RFC 6152). The queue records at submission whether a
// message has octets of 128 or above (Record.Body). Such a message is
// sent with BODY=8BITMIME and only to a server that advertises 8BITMIME
// (§3); to any other it is returned to the sender with 5.6.3 rather than
// converted to 7 bits (conversion would break the DKIM signature made at
// submission, and §3 allows returning it). A 7-bit message goes without
// the BODY parameter, to any server.

// eightBitScan is a writer that notes whether anything written to it
// had an octet of 128 or above.
type eightBitScan struct{ found bool }

func (s *eightBitScan) Write(p []byte) (int, error) {
	if !s.found {
		for _, c := range p {
			if c >= 0x80 {
				s.found = true
				break
			}
		}
	}
	return len(p), nil
}

// scanBody finds the body type of a queued message whose envelope
// predates Record.Body.
func scanBody(mailDir, id string) (string, error) {
	f, err := os.Open(filepath.Join(mailDir, id+".msg"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := &eightBitScan{}
	if _, err := io.Copy(s, f); err != nil {
		return "", err
	}
	if s.found {
		return Body8BitMIME, nil
	}
	return Body7Bit, nil
}

// mailParams sits between go-smtp's client and the connection. go-smtp
// adds BODY=8BITMIME to every MAIL command when the server advertises
// 8BITMIME; for a 7-bit message strip8bit takes it out again, so that
// BODY=8BITMIME is declared only for data that has 8-bit octets. go-smtp
// writes each command line in one Write; nothing else is changed.
type mailParams struct {
	net.Conn
	strip8bit bool
}

var (
	mailPrefix = []byte("MAIL FROM:<")
	bodyEight  = []byte(" BODY=8BITMIME")
)

func (m *mailParams) Write(p []byte) (int, error) {
	if m.strip8bit && bytes.HasPrefix(p, mailPrefix) {
		// The address has no space (checkAddr), so the first
		// " BODY=8BITMIME" is go-smtp's parameter.
		if q := bytes.Replace(p, bodyEight, nil, 1); len(q) != len(p) {
			if _, err := m.Conn.Write(q); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return m.Conn.Write(p)
}
