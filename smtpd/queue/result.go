package queue

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/emersion/go-smtp"
)

// resultKind is what became of a recipient in one attempt.
type resultKind int

const (
	resSent resultKind = iota + 1
	resTemp            // try again later
	resPerm            // give up and tell the sender
)

// result is one recipient's outcome of an attempt.
type result struct {
	kind   resultKind
	code   string // RFC 3463 enhanced status code
	reply  string // the remote's reply, one line, or ""
	text   string // what happened, in words
	remote string // the host that answered, or ""
	tls    string // TLS* of the connection, or ""
}

func tempResult(code, reply, text string) *result {
	return &result{kind: resTemp, code: code, reply: reply, text: text}
}

func permResult(code, reply, text string) *result {
	return &result{kind: resPerm, code: code, reply: reply, text: text}
}

// smtpResult classifies an error of a command sent to host at stage (the
// command: "MAIL FROM", "RCPT TO", "DATA", "end of data"). A reply of the
// remote decides by its class (RFC 5321 §4.2.1: 4yz transient, 5yz
// permanent); anything else (a lost connection, a timeout) is transient.
func smtpResult(err error, host, stage string) result {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		reply := replyLine(se)
		r := result{kind: resTemp, reply: reply, remote: host,
			text: fmt.Sprintf("host %s said: %s (in reply to %s)", host, reply, stage)}
		class := se.Code / 100
		if class == 5 {
			r.kind = resPerm
		}
		r.code = enhanced(se, class)
		return r
	}
	what := "lost connection with"
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		what = "timeout talking to"
	}
	return result{kind: resTemp, code: "4.4.2", remote: host,
		text: cleanText(fmt.Sprintf("%s %s while sending %s: %v", what, host, stage, err), maxTextLen)}
}

// replyLine is an SMTP reply as one clean line: "550 5.1.1 text".
func replyLine(se *smtp.SMTPError) string {
	s := strconv.Itoa(se.Code)
	if se.EnhancedCode[0] > 0 {
		s += fmt.Sprintf(" %d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	if se.Message != "" {
		s += " " + se.Message
	}
	return cleanText(s, 512)
}

// enhanced is the reply's enhanced status code when it has a sensible one
// (RFC 3463 §2: its class must agree with the basic code's), else the
// generic code of the class.
func enhanced(se *smtp.SMTPError, class int) string {
	c := se.EnhancedCode
	if c[0] == class && c[1] >= 0 && c[1] < 1000 && c[2] >= 0 && c[2] < 1000 {
		return fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2])
	}
	if class == 5 {
		return "5.0.0"
	}
	return "4.0.0"
}
