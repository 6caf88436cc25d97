package pop3d

import (
	"errors"
	"strconv"
	"strings"
)

// command is one parsed command line.
type command struct {
	name string   // keyword in upper case
	args []string // arguments split on spaces (empty ones dropped)
	rest string   // everything after the keyword and one space, verbatim
}

var (
	errEmptyCommand = errors.New("empty command")
	errBadKeyword   = errors.New("unknown command")
	errBadChars     = errors.New("invalid characters in command")
)

// parseCommand splits a command line (without its CRLF).
//
// RFC 1939 §3: "Commands in the POP3 consist of a case-insensitive keyword,
// possibly followed by one or more arguments. All commands are terminated
// by a CRLF pair. Keywords and arguments consist of printable ASCII
// characters. Keywords and arguments are each separated by a single SPACE
// character. Keywords are three or four characters long."
//
// Deviations, on purpose: bytes of 0x80 and above are accepted (UTF-8 user
// names and passwords); runs of spaces and a trailing space are tolerated as
// many clients send them; the 40-character argument limit is not enforced
// (addresses and SASL initial responses are longer, RFC 5034 §4) since the
// line length limit bounds everything.
func parseCommand(line string) (command, error) {
	for i := 0; i < len(line); i++ {
		if c := line[i]; c < 0x20 || c == 0x7f {
			return command{}, errBadChars
		}
	}
	if strings.TrimLeft(line, " ") == "" {
		return command{}, errEmptyCommand
	}
	name, rest, _ := strings.Cut(line, " ")
	if len(name) < 3 || len(name) > 4 {
		return command{}, errBadKeyword
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return command{}, errBadKeyword
		}
	}
	var args []string
	for _, f := range strings.Split(rest, " ") {
		if f != "" {
			args = append(args, f)
		}
	}
	return command{name: strings.ToUpper(name), args: args, rest: rest}, nil
}

// parseNumber parses a POP3 decimal number: digits only, no sign, no
// space; at most bits wide.
// allDigits reports whether s is 1 to max ASCII digits.
func allDigits(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func parseNumber(s string, bits int) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, bits)
	if err != nil {
		return 0, false
	}
	return n, true
}

// dispatch runs one command line.
func (ss *session) dispatch(line string) {
	if ss.state == stateTransaction && !ss.srv.opts.Users.HasUser(ss.user) {
		ss.accountRemoved()
		return
	}
	cmd, err := parseCommand(line)
	if err != nil {
		switch {
		case errors.Is(err, errEmptyCommand):
			ss.fail("-ERR empty command")
		case errors.Is(err, errBadChars):
			ss.fail("-ERR invalid characters in command")
		default:
			ss.fail("-ERR unknown command")
		}
		return
	}

	if ss.state == stateAuthorization {
		switch cmd.name {
		case "CAPA":
			ss.cmdCapa(cmd)
		case "USER":
			ss.cmdUser(cmd)
		case "PASS":
			ss.cmdPass(cmd)
		case "AUTH":
			ss.cmdAuth(cmd)
		case "STLS":
			ss.cmdStls(cmd)
		case "QUIT":
			ss.cmdQuit(cmd)
		case "APOP":
			// RFC 1939 §7: optional; not offered (no timestamp in the
			// greeting), since it needs a plaintext password copy.
			ss.fail("-ERR APOP not supported")
		case "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL":
			ss.fail("-ERR not logged in")
		default:
			ss.fail("-ERR unknown command")
		}
		return
	}

	switch cmd.name {
	case "CAPA":
		ss.cmdCapa(cmd)
	case "STAT":
		ss.cmdStat(cmd)
	case "LIST":
		ss.cmdList(cmd)
	case "UIDL":
		ss.cmdUidl(cmd)
	case "RETR":
		ss.cmdRetr(cmd)
	case "TOP":
		ss.cmdTop(cmd)
	case "DELE":
		ss.cmdDele(cmd)
	case "NOOP":
		ss.cmdNoop(cmd)
	case "RSET":
		ss.cmdRset(cmd)
	case "QUIT":
		ss.cmdQuit(cmd)
	case "USER", "PASS", "AUTH", "APOP":
		ss.fail("-ERR already logged in")
	case "STLS":
		// RFC 2595 §4: STLS is valid only in AUTHORIZATION state.
		ss.fail("-ERR STLS only before login")
	default:
		ss.fail("-ERR unknown command")
	}
}

// noArgs answers -ERR when cmd has arguments.
func (ss *session) noArgs(cmd command) bool {
	if len(cmd.args) != 0 {
		ss.fail("-ERR " + cmd.name + " takes no arguments")
		return false
	}
	return true
}

// message resolves a message-number argument (RFC 1939 §5): a number of
// the snapshot that exists and is not marked deleted. It answers -ERR
// itself and returns -1 when there is no such message.
func (ss *session) message(arg string) int {
	n, ok := parseNumber(arg, 32)
	switch {
	case !ok:
		ss.fail("-ERR invalid message number")
		return -1
	case n == 0 || n > uint64(len(ss.msgs)):
		ss.fail("-ERR no such message")
		return -1
	case ss.msgs[n-1].deleted:
		ss.fail("-ERR message " + strconv.FormatUint(n, 10) + " already deleted")
		return -1
	}
	return int(n - 1)
}
