package imapd

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"unsafe"
)

// literalGuard keeps what a client sends inside a literal from ever being
// run as a command (issue 5, the library's first hazard).
//
// When the imapserver library refuses a command at a literal's header (a
// non-synchronizing literal over its 4096-octet buffer for that command,
// an APPEND over APPENDLIMIT, a syntax error before the literal), it
// answers the command and then reads the literal's octets as the next
// commands: "a LOGIN {5000+}" followed by 5,000 octets that hold
// "a2 CREATE Injected" would create the folder. A client that waits for
// "+" before sending a synchronizing literal never sends those octets; one
// that sends a non-synchronizing literal (LITERAL+ and LITERAL-, RFC 7888),
// or a synchronizing one without waiting, already has.
//
// The guard sees both directions of one connection as the library reads and
// writes them, after TLS (it is the library's DebugWriter, which the
// library places above TLS, STARTTLS included). It follows the client's
// commands and the server's responses, skipping literal data in both. When
// the server's tagged response ends a command whose literal octets the
// client has sent and the library may not have consumed (the response
// comes before all of the command was read, or it is BAD, NO [TOOBIG] or
// NO [SERVERBUG], the library's answers at a literal header, and the
// library did not hand the literal to the session's Append), the guard
// fails that response's write. The client has the answer, and the
// library, whose writer has failed, ends the connection before it parses
// another command (RFC 7888 §4 lets a server close the connection rather
// than read a literal it refused). A client that obeys the protocol never
// meets this: it waited for "+", and a refusal then leaves nothing behind.
type literalGuard struct {
	mu     sync.Mutex
	trace  io.Writer // the configured protocol trace, or nil
	client framer
	server framer
	// wbase is the start of the library's write buffer, learnt from the
	// first server write (the greeting always comes from it): every
	// flush of that buffer starts there, which spares calledByTeeReader
	// on nearly every write.
	wbase *byte

	cmds []*guardCmd // commands read and not yet answered, oldest first
	cur  *guardCmd   // the command whose lines are being read, or nil
	bad  bool        // tripped: every later write fails
	// readErr, once set, fails every later read.
	readErr error
	conn    net.Conn // closed when a read is refused
}

// guardCmd is what the guard knows of one client command.
type guardCmd struct {
	tag      string
	sent     bool // literal octets sent without a "+": they may be left unread
	consumed bool // the session was handed its literal (APPEND): it was read
	waitCont bool // its last line announced a synchronizing literal, no "+" yet
	done     bool // its last line has been read
	append   bool // an APPEND: its message literal may be big
	nameLit  bool // an APPEND whose next literal is the mailbox name
	afterMsg bool // an APPEND whose message literal has been announced
}

var (
	// errLiteralLeft fails the write of the response that leaves literal
	// octets unread; the library then closes the connection.
	errLiteralLeft = errors.New("imapd: a refused command left literal octets unread: closing the connection")
	// errLongTag fails the read of a command that sends a literal under a
	// tag too long for the guard to follow.
	errLongTag = errors.New("imapd: a literal under a tag of more than 32 octets: closing the connection")
	// errBigLiteral fails the read of a literal the library would refuse
	// for its size and then misread (see clientLine).
	errBigLiteral = errors.New("imapd: a literal over 4096 octets in a command other than APPEND's message: closing the connection")
	// errAfterMessage fails the read of anything but the line's end after
	// an APPEND message.
	errAfterMessage = errors.New("imapd: text after an APPEND message literal: closing the connection")
	// errQuotedLineEnd fails the read of a line end inside a quoted
	// string.
	errQuotedLineEnd = errors.New("imapd: a line end inside a quoted string: closing the connection")
	// errLongCommand fails the read that takes a command past
	// maxGuardCommand octets outside its literals.
	errLongCommand = errors.New("imapd: a command of more than 48 KiB outside its literals: closing the connection")
)

// maxGuardCommand is the most a command may hold outside its literals.
// The library stops reading a command at 50 KiB (imapserver's
// maxCommandSize), answers NO [SERVERBUG] and reads the rest of the line
// as the next command: "s UID SEARCH HEADER Message-ID \"AAA…" with
// "x DELETE Trash" past the limit inside the quoted string would delete
// Trash, and the quoted text may come from a message's own header. The
// guard refuses the read that crosses this lower limit, so the library
// never sees the command reach its own.
const maxGuardCommand = 48 << 10

// maxGuardQueue bounds the commands remembered while unanswered; a client
// that pipelines more is past any real use, and the oldest are forgotten.
const maxGuardQueue = 1024

// maxGuardTag is how much of a line's start the framer keeps: the tag (at
// most maxTag octets when the command has a literal; real clients use a
// few) and what follows it.
const (
	maxGuardTag = 64
	maxTag      = 32
)

// maxBufferedLiteral is the largest literal the library takes for anything
// but an APPEND message (imapserver's checkBufferedLiteral).
const maxBufferedLiteral = 4096

func newLiteralGuard(trace io.Writer) *literalGuard {
	return &literalGuard{trace: trace, client: framer{max: maxGuardCommand, quotes: true}}
}

// Write takes the octets the library read from the client (through its
// io.TeeReader) or wrote to it (through its io.MultiWriter, after the
// client's own write): the library hands both directions to the one
// DebugWriter, so the caller tells which. A write to the client fails if
// its response has just left literal octets unread; a read fails if it
// holds a literal under a tag the guard cannot follow.
func (g *literalGuard) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if g.trace != nil {
		g.trace.Write(p)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if base := unsafe.SliceData(p); base != g.wbase || g.wbase == nil {
		if calledByTeeReader() {
			// The refusal sticks, and the connection is closed: the
			// library's first look for more input drops a read error,
			// and would read on.
			if g.readErr == nil {
				g.readErr = g.client.feed(p, g.clientLine, g.clientLiteral)
				if g.readErr != nil && g.conn != nil {
					g.conn.Close()
				}
			}
			if g.readErr != nil {
				return 0, g.readErr
			}
			return len(p), nil
		}
		if g.wbase == nil {
			g.wbase = base
		}
	}
	if !g.bad {
		g.server.feed(p, g.serverLine, nil)
	}
	if g.bad {
		return 0, errLiteralLeft
	}
	return len(p), nil
}

// callerDir caches, by the return address in Write's caller, whether that
// caller is io.TeeReader's Read.
var callerDir sync.Map // uintptr -> bool

// calledByTeeReader reports whether literalGuard.Write was called by an
// io.TeeReader (the library's read side) rather than an io.MultiWriter
// (its write side). TestLiteralGuardDirections pins the library's use.
//
//go:noinline
func calledByTeeReader() bool {
	var pc [1]uintptr
	// 0: runtime.Callers, 1: this function, 2: Write, 3: Write's caller.
	if runtime.Callers(3, pc[:]) == 0 {
		return false
	}
	if v, ok := callerDir.Load(pc[0]); ok {
		return v.(bool)
	}
	name := ""
	if fn := runtime.FuncForPC(pc[0] - 1); fn != nil {
		name = fn.Name()
	}
	tee := name == "io.(*teeReader).Read"
	callerDir.Store(pc[0], tee)
	return tee
}

// clientLine handles one whole client line (its first octets and its
// literal announcement, if any); an error refuses it.
//
// A literal over 4096 octets anywhere but in APPEND's message is refused
// here, before the library sees its header: the library would refuse it
// without saying so (no "+", no answer) and read the literal's first
// octets, or the client's next line, as the argument it expected, then
// the rest as commands ("a DELETE {5000+}" with "Trash ..." inside would
// delete Trash).
func (g *literalGuard) clientLine(head []byte, lit literalHeader) error {
	if g.cur == nil {
		tag, rest, found := bytes.Cut(head, []byte(" "))
		if lit.ok && (!found || len(tag) > maxTag) {
			return errLongTag
		}
		if !found {
			tag = nil // not a tag we can follow; nothing to guard either
		}
		g.cur = &guardCmd{tag: string(bytes.TrimRight(tag, "\r\n"))}
		if name, args, _ := bytes.Cut(rest, []byte(" ")); bytes.EqualFold(name, []byte("APPEND")) {
			// The message is APPEND's last literal; its first may be
			// the mailbox name ("a APPEND {5}").
			g.cur.append = true
			g.cur.nameLit = lit.ok && bytes.HasPrefix(args, []byte("{"))
		}
		if len(g.cmds) == maxGuardQueue {
			g.cmds = g.cmds[1:]
		}
		g.cmds = append(g.cmds, g.cur)
	}
	if g.cur.afterMsg {
		// RFC 9051 APPEND: the message literal ends the command (")"
		// first after RFC 6855's "UTF8 (~{n}"). The library would store
		// the message, then drop the rest of the line and never answer.
		if h := string(head); h != "\r\n" && h != ")\r\n" {
			return errAfterMessage
		}
	}
	if !lit.ok {
		g.cur.done = true
		g.cur = nil
		g.client.text = 0 // the next command starts here
		return nil
	}
	message := g.cur.append && !g.cur.nameLit
	g.cur.afterMsg = message
	g.cur.nameLit = false
	if !message && lit.size > maxBufferedLiteral {
		return errBigLiteral
	}
	if lit.nonSync {
		g.cur.sent = true
	} else {
		g.cur.waitCont = true
	}
	return nil
}

// clientLiteral is called with the first octets of a literal's data.
func (g *literalGuard) clientLiteral() {
	if g.cur != nil && g.cur.waitCont {
		// Sent before the server's "+": as good as non-synchronizing.
		g.cur.sent = true
		g.cur.waitCont = false
	}
}

// serverLine handles one whole server line.
func (g *literalGuard) serverLine(head []byte, _ literalHeader) error {
	if bytes.HasPrefix(head, []byte("+")) {
		if g.cur != nil {
			g.cur.waitCont = false
		}
		return nil
	}
	if bytes.HasPrefix(head, []byte("*")) || len(g.cmds) == 0 {
		return nil
	}
	tag, rest, ok := bytes.Cut(head, []byte(" "))
	if !ok {
		return nil
	}
	i := -1
	for k, c := range g.cmds {
		if c.tag == string(tag) {
			i = k
			break
		}
	}
	if i < 0 {
		return nil // not a command we saw (or forgotten): nothing to judge
	}
	// Entries before it were continuation lines (IDLE's DONE, SASL
	// responses), which are answered by nothing of their own.
	c := g.cmds[i]
	g.cmds = g.cmds[i+1:]
	if len(g.cmds) == 0 {
		g.cmds = nil // an idle session keeps no queue
	}
	if c.sent && (!c.done || !c.consumed && refusedAtLiteral(rest)) {
		g.bad = true
		return nil
	}
	if c == g.cur {
		// Answered before it was all read, with nothing of the literal
		// sent: the client waits for "+" and will send no more of it.
		g.cur = nil
		g.client.reset()
	}
	return nil
}

// appendStarted records that the library has handed the session an APPEND
// literal: the oldest unanswered command that sent a literal is the one the
// library is running (it runs them in order), and whatever it answers, the
// library reads the rest of that literal. Without this, the session's own
// BAD for an APPEND (a flag it refuses) would close the connection.
func (g *literalGuard) appendStarted() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.cmds {
		if c.sent && !c.consumed {
			c.consumed = true
			return
		}
	}
}

// refusedAtLiteral reports whether a tagged response's status is one the
// library gives at a literal's header without reading the literal.
func refusedAtLiteral(rest []byte) bool {
	switch {
	case bytes.HasPrefix(rest, []byte("BAD")):
		return true
	case bytes.HasPrefix(rest, []byte("NO [TOOBIG]")), bytes.HasPrefix(rest, []byte("NO [SERVERBUG]")):
		return true
	}
	return false
}

// literalHeader is the literal a line announces at its end: "{n}",
// "{n+}", or either after "~" (literal8, RFC 3516).
type literalHeader struct {
	ok      bool
	nonSync bool
	size    int64
}

// framer splits one direction of an IMAP stream into lines and skips the
// literal data announced at their ends. Of each line it needs only the
// start (the tag and status) and the end (a literal header): a line
// within one chunk is looked at where it is; only a line split across
// chunks is kept, its start and end, until it ends.
type framer struct {
	split   *splitLine // a line split across chunks; nil otherwise
	literal int64      // literal octets still to skip
	inLit   bool       // some of the current literal's octets have been seen
	// text counts the octets outside literals since its user last set it
	// to zero; past max (when max > 0) feed fails with errLongCommand.
	text, max int64
	// quotes: follow quoted strings, and fail with errQuotedLineEnd at a
	// line end inside one. The library's quoted strings take any octet
	// but '"' and '\\', CR and LF included (RFC 9051's QUOTED-CHAR
	// excludes them), so a quoted string could hide line ends from the
	// framer: a literal header at the end of such a "line" that the
	// library reads as quoted text, or a command counted as several
	// short ones, which the library then cuts at its 50 KiB limit and
	// reads the rest of as the next command. A real client sends such
	// text as a literal.
	quotes         bool
	inQuote, quEsc bool
}

// scanQuotes follows quoted strings through b, outside literal data.
func (f *framer) scanQuotes(b []byte) {
	for _, c := range b {
		switch {
		case !f.inQuote:
			f.inQuote = c == '"'
		case f.quEsc:
			f.quEsc = false
		case c == '\\':
			f.quEsc = true
		case c == '"':
			f.inQuote = false
		}
	}
}

// splitLine is what a framer keeps of a line split across chunks.
type splitLine struct {
	head []byte // its first maxGuardTag octets
	tail []byte // its last framerTail octets
}

const framerTail = 32

func (f *framer) reset() {
	f.split, f.literal, f.inLit, f.text = nil, 0, false, 0
	f.inQuote, f.quEsc = false, false
}

// count adds n octets outside literals and reports whether they are too
// many.
func (f *framer) count(n int) error {
	f.text += int64(n)
	if f.max > 0 && f.text > f.max {
		return errLongCommand
	}
	return nil
}

// feed consumes p: line is called for each complete line with its start
// and the literal it announces, lit (if not nil) when a literal's first
// octets arrive. It stops at the first error line returns.
func (f *framer) feed(p []byte, line func(head []byte, h literalHeader) error, lit func()) error {
	for len(p) > 0 {
		if f.literal > 0 {
			if !f.inLit && lit != nil {
				lit()
			}
			f.inLit = true
			n := min(int64(len(p)), f.literal)
			f.literal -= n
			p = p[n:]
			if f.literal == 0 {
				f.inLit = false
			}
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if err := f.count(len(p)); err != nil {
				return err
			}
			if f.quotes {
				f.scanQuotes(p)
			}
			f.keep(p)
			return nil
		}
		seg := p[:i+1]
		p = p[i+1:]
		if err := f.count(len(seg)); err != nil {
			return err
		}
		if f.quotes {
			if f.scanQuotes(seg[:len(seg)-1]); f.inQuote {
				return errQuotedLineEnd
			}
		}
		head, end := seg, seg
		if f.split != nil {
			f.keep(seg)
			head, end = f.split.head, f.split.tail
		}
		h := parseLiteralHeader(end)
		err := line(head[:min(len(head), maxGuardTag)], h)
		f.split = nil
		if err != nil {
			return err
		}
		if h.ok {
			f.literal = h.size
		}
	}
	return nil
}

// keep adds seg to a line split across chunks: its first maxGuardTag
// octets and its last framerTail.
func (f *framer) keep(seg []byte) {
	if f.split == nil {
		f.split = &splitLine{head: make([]byte, 0, maxGuardTag), tail: make([]byte, 0, framerTail)}
	}
	l := f.split
	if room := maxGuardTag - len(l.head); room > 0 {
		l.head = append(l.head, seg[:min(room, len(seg))]...)
	}
	if len(seg) >= framerTail {
		l.tail = append(l.tail[:0], seg[len(seg)-framerTail:]...)
		return
	}
	if over := len(l.tail) + len(seg) - framerTail; over > 0 {
		l.tail = append(l.tail[:0], l.tail[over:]...)
	}
	l.tail = append(l.tail, seg...)
}

// parseLiteralHeader reads "{n}" or "{n+}" (maybe after "~") just before
// the line's CRLF.
func parseLiteralHeader(line []byte) literalHeader {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	// The library takes one space before the line end too ("{5} \r\n",
	// go-imap issue 540): so must the guard, or it would miss the
	// literal that the library then reads.
	line = bytes.TrimSuffix(line, []byte(" "))
	if !bytes.HasSuffix(line, []byte("}")) {
		return literalHeader{}
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return literalHeader{}
	}
	num := line[open+1 : len(line)-1]
	h := literalHeader{ok: true}
	if bytes.HasSuffix(num, []byte("+")) {
		h.nonSync = true
		num = num[:len(num)-1]
	}
	n, err := strconv.ParseUint(string(num), 10, 63)
	if err != nil || len(num) == 0 || num[0] == '+' {
		return literalHeader{}
	}
	h.size = int64(n)
	return h
}
