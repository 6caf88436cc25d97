package queue

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// dsnRcpt is one recipient in a delivery status notification.
type dsnRcpt struct {
	Addr   string
	Action string // "failed" or "delayed" (RFC 3464 §2.3.3)
	Status string // RFC 3463 code
	Remote string // host that answered, or ""
	Reply  string // its reply, or ""
	Text   string // what happened, in words
	Last   time.Time
	Until  time.Time // delayed: when retries end
}

// dsnReport is a delivery status notification (RFC 3464) about one
// message, for its sender.
type dsnReport struct {
	Hostname  string // Reporting-MTA
	ID        string // queue id
	Sender    string
	Arrival   time.Time
	Date      time.Time
	Delayed   bool // a warning: nothing failed yet
	UTF8      bool // the message used SMTPUTF8: RFC 6533 types
	Rcpts     []dsnRcpt
	Headers   []byte // the original header section
	Boundary  string
	MessageID string
}

// maxLine is where lines of the human-readable part are wrapped, well
// under the 998 octets of RFC 5322 §2.1.1.
const maxLine = 76

// WriteTo writes the notification as a message (CRLF line ends): a
// multipart/report with the explanation, the message/delivery-status
// fields and the original header section (RFC 3464 §2, RFC 6522).
func (d *dsnReport) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	hdr := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	subject := "Undelivered Mail Returned to Sender"
	if d.Delayed {
		subject = "Delayed Mail (still being retried)"
	}
	hdr("From", "Mail Delivery System <MAILER-DAEMON@"+asciiField(d.Hostname)+">")
	hdr("To", "<"+asciiField(d.Sender)+">")
	hdr("Subject", subject)
	hdr("Date", d.Date.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+d.MessageID+">")
	// RFC 3834 §5: a notification is auto-replied mail; responders must
	// not answer it.
	hdr("Auto-Submitted", "auto-replied")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `multipart/report; report-type=delivery-status; boundary="`+d.Boundary+`"`)
	b.WriteString("\r\nThis is a MIME-encapsulated message.\r\n\r\n")

	b.WriteString("--" + d.Boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")
	b.WriteString("Content-Description: Notification\r\n\r\n")
	d.writeHuman(&b)

	statusType, headersType := "message/delivery-status", "text/rfc822-headers"
	if d.UTF8 {
		// RFC 6533 §6.1, §6.3: the types for internationalised mail.
		statusType, headersType = "message/global-delivery-status", "message/global-headers"
	}
	b.WriteString("\r\n--" + d.Boundary + "\r\n")
	b.WriteString("Content-Type: " + statusType + "\r\nContent-Description: Delivery report\r\n\r\n")
	d.writeStatus(&b)

	b.WriteString("\r\n--" + d.Boundary + "\r\n")
	b.WriteString("Content-Type: " + headersType + "\r\n")
	if hasHighBit(d.Headers) {
		b.WriteString("Content-Transfer-Encoding: 8bit\r\n")
	}
	b.WriteString("Content-Description: Undelivered Message Headers\r\n\r\n")
	b.Write(d.Headers)
	b.WriteString("\r\n--" + d.Boundary + "--\r\n")
	n, err := w.Write(b.Bytes())
	return int64(n), err
}

// writeHuman is the explanation for people.
func (d *dsnReport) writeHuman(b *bytes.Buffer) {
	var p []string
	p = append(p, fmt.Sprintf("This is the mail system at host %s.", d.Hostname))
	if d.Delayed {
		p = append(p, "Your message could not be delivered yet to the recipients below. "+
			"This is only a warning: the mail system will keep trying, until the time shown for each recipient. "+
			"You do not need to send it again.")
	} else {
		p = append(p, "I'm sorry to have to inform you that your message could not be delivered "+
			"to one or more recipients. The reasons are below.")
	}
	for _, r := range d.Rcpts {
		line := "<" + r.Addr + ">: " + r.Text
		if d.Delayed && !r.Until.IsZero() {
			line += " (trying until " + r.Until.Format(time.RFC1123Z) + ")"
		}
		p = append(p, line)
	}
	p = append(p, fmt.Sprintf("The message's queue id is %s; its header is attached.", d.ID))
	for _, para := range p {
		for _, l := range wrap(para, maxLine) {
			b.WriteString(l + "\r\n")
		}
		b.WriteString("\r\n")
	}
}

// writeStatus is the machine-readable part: per-message fields, then a
// block per recipient (RFC 3464 §2.2, §2.3).
func (d *dsnReport) writeStatus(b *bytes.Buffer) {
	f := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	f("Reporting-MTA", "dns; "+asciiField(d.Hostname))
	f("X-Mailsuite-Queue-ID", d.ID)
	f("Arrival-Date", d.Arrival.Format(time.RFC1123Z))
	for _, r := range d.Rcpts {
		b.WriteString("\r\n")
		f("Final-Recipient", "rfc822; "+d.addrField(r.Addr))
		f("Action", r.Action)
		f("Status", r.Status)
		if r.Remote != "" {
			f("Remote-MTA", "dns; "+asciiField(r.Remote))
		}
		// RFC 3464 §2.3.6: "smtp" for a reply of the remote; for our
		// own reasons an X- type (§2.3.6 allows extension types).
		if r.Reply != "" {
			f("Diagnostic-Code", "smtp; "+asciiField(r.Reply))
		} else if r.Text != "" {
			f("Diagnostic-Code", "X-mailsuite; "+asciiField(r.Text))
		}
		if !r.Last.IsZero() {
			f("Last-Attempt-Date", r.Last.Format(time.RFC1123Z))
		}
		if r.Action == "delayed" && !r.Until.IsZero() {
			f("Will-Retry-Until", r.Until.Format(time.RFC1123Z))
		}
	}
}

// addrField writes an address for Final-Recipient: as it is in ASCII;
// with UTF-8 only in message/global-delivery-status (RFC 6533 §3).
func (d *dsnReport) addrField(a string) string {
	if d.UTF8 {
		return cleanText(a, maxAddrLen)
	}
	return asciiField(a)
}

// asciiField makes s safe as a header field value: one line, printable
// ASCII, at most 900 octets.
func asciiField(s string) string {
	s = cleanText(s, 900)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x7f {
			c = '?'
			// Skip the rest of a multi-byte character.
			_, n := utf8.DecodeRuneInString(s[i:])
			i += n - 1
		}
		b.WriteByte(c)
	}
	return b.String()
}

// wrap breaks text into lines of at most n bytes at spaces; a word longer
// than n is cut.
func wrap(s string, n int) []string {
	var lines []string
	var cur strings.Builder
	for _, word := range strings.Fields(s) {
		for len(word) > n {
			if cur.Len() > 0 {
				lines = append(lines, cur.String())
				cur.Reset()
			}
			cut := n
			for cut > 0 && !utf8.RuneStart(word[cut]) {
				cut--
			}
			if cut == 0 {
				cut = n
			}
			lines = append(lines, word[:cut])
			word = word[cut:]
		}
		if cur.Len() > 0 && cur.Len()+1+len(word) > n {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(word)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

func hasHighBit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// maxDSNHeaders bounds the original header section copied into a DSN.
const maxDSNHeaders = 64 << 10

// readHeaderSection returns the header section of a message (without the
// blank line), with CRLF line ends, at most max octets cut at a line end,
// every line at most 998 octets (RFC 5322 §2.1.1), and the boundary
// string never appearing at a line start.
func readHeaderSection(r io.Reader, max int, boundary string) []byte {
	br := bufio.NewReaderSize(r, 4096)
	var out bytes.Buffer
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// An overlong line: keep its start, skip the rest.
			rest := line
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			line = rest
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			break // end of the header section, or of the input
		}
		if len(trimmed) > 998 {
			trimmed = trimmed[:998]
		}
		if bytes.HasPrefix(trimmed, []byte("--"+boundary)) {
			trimmed = append([]byte("X-"), trimmed...)
		}
		trimmed = bytes.ReplaceAll(trimmed, []byte("\r"), []byte(" "))
		if out.Len()+len(trimmed)+2 > max {
			break
		}
		out.Write(trimmed)
		out.WriteString("\r\n")
		if err != nil {
			break
		}
	}
	return out.Bytes()
}
