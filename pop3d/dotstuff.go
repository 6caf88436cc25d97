package pop3d

import (
	"bufio"
	"errors"
	"io"
)

// sourceError marks a failure to read the message, as opposed to a
// failure to write to the client.
type sourceError struct{ err error }

func (e sourceError) Error() string { return "reading message: " + e.err.Error() }
func (e sourceError) Unwrap() error { return e.err }

// copyBufferSize is the read buffer of copyDotStuffed: lines up to this
// long go out in one piece; longer ones in several, which is fine.
const copyBufferSize = 32 << 10

// copyDotStuffed streams a message from r to w as the body of a POP3
// multi-line response, without the terminating ".\r\n":
//
//   - RFC 1939 §3: a line beginning with "." gets another "." in front
//     ("byte-stuffing" with the termination octet);
//   - output ends with CRLF even when the message does not, so that the
//     terminator stands on its own line;
//   - bodyLines < 0 copies everything (RETR); bodyLines >= 0 copies the
//     header, the blank line after it and that many body lines (RFC 1939
//     §7 TOP). A message without a blank line is all header.
//
// It reads through br, the caller's (a session reuses one for all its
// messages), and never holds the message. It returns the octets of br
// copied; read failures come back wrapped in sourceError.
func copyDotStuffed(w *bufio.Writer, br *bufio.Reader, bodyLines int64) (int64, error) {
	var (
		n         int64
		atStart        = true // the next octet begins a line
		inHeader       = true
		last      byte = '\n' // last octet copied; '\n' when none
		readError error
	)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if atStart {
				if !inHeader && bodyLines >= 0 {
					if bodyLines == 0 {
						break
					}
					bodyLines--
				}
				if line[0] == '.' {
					if err := w.WriteByte('.'); err != nil {
						return n, err
					}
				}
				// The blank line ends the header (RFC 5322 §2.1).
				// Being at most 2 octets it always comes whole.
				if inHeader && (string(line) == "\r\n" || string(line) == "\n") {
					inHeader = false
				}
			}
			if _, err := w.Write(line); err != nil {
				return n, err
			}
			n += int64(len(line))
			last = line[len(line)-1]
			atStart = last == '\n'
		}
		if err == nil || errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != io.EOF {
			readError = sourceError{err}
		}
		break
	}
	if readError != nil {
		return n, readError
	}
	switch last {
	case '\n':
	case '\r':
		if err := w.WriteByte('\n'); err != nil {
			return n, err
		}
	default:
		if _, err := w.WriteString("\r\n"); err != nil {
			return n, err
		}
	}
	return n, nil
}
