package imapd

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailsuite/mailsuite/mailbox"
)

// session is one IMAP connection's state. The fields above idleMu are
// touched only by the goroutine running the current command, or during
// IDLE by a wake-up holding idleMu (idle.go); mu guards the few that the
// autologout timer and Shutdown read from other goroutines.
type session struct {
	srv    *Server
	conn   *imapserver.Conn
	id     uint64
	remote net.Addr
	ip     string
	start  time.Time
	log    *slog.Logger
	corker *corkConn // nil when the library was given another conn

	user    string
	account mailbox.Account
	sel     *selection
	// saved is the SEARCHRES result (RFC 5182), as UIDs, so that expunges
	// drop out of it by themselves (RFC 5182 §2.1).
	saved []uint32

	// IDLE (idle.go). idleMu is held while the IDLE starts, while a
	// wake-up polls, and by endIdle; it guards the fields below and, while
	// idleW is set, the selection.
	idleMu     sync.Mutex
	idleW      *imapserver.UpdateWriter // set while wake-ups may write
	idleStop   <-chan struct{}          // closed by the library at the end of IDLE
	idleTick   *time.Timer              // IdlePoll
	wakeQueued atomic.Bool              // a wake-up goroutine has not polled yet

	mu           sync.Mutex
	busy         bool // inside a command
	idling       bool // inside IDLE
	closed       bool
	byeSent      bool
	activity     uint64 // commands begun; Shutdown looks for a quiet spell
	seenActivity uint64
	timer        *time.Timer // autologout, armed after login between commands
	loginTimer   *time.Timer // closes the connection if no login in time
	loggedIn     bool
}

// newSession is the library's NewSession: the session, behind
// apartSession (apart.go). It runs apart too (the logger's attributes are
// formatted here).
func (s *Server) newSession(conn *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	var (
		ss  *session
		err error
	)
	apart(func() { ss, err = s.openSession(conn) })
	if err != nil {
		return nil, nil, err
	}
	return apartSession{ss}, nil, nil
}

func (s *Server) openSession(conn *imapserver.Conn) (*session, error) {
	nc := conn.NetConn()
	ss := &session{
		srv:    s,
		conn:   conn,
		id:     s.nextID.Add(1),
		remote: nc.RemoteAddr(),
		ip:     remoteIP(nc.RemoteAddr()),
		start:  time.Now(),
	}
	ss.corker, _ = nc.(*corkConn)
	ss.log = s.log.With("conn", ss.id, "remote", ss.remote.String())
	if !s.addSession(ss) {
		s.release(ss.ip)
		return nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Server shutting down"}
	}
	ss.loginTimer = time.AfterFunc(s.opts.LoginTimeout, func() {
		ss.mu.Lock()
		done := ss.closed || ss.loggedIn
		ss.mu.Unlock()
		if !done {
			ss.log.Info("no login in time; closing", "login_timeout", s.opts.LoginTimeout.String())
			nc.Close()
		}
	})
	ss.log.Debug("connected")
	return ss, nil
}

// begin marks the start of a command; call the function it returns at the
// end (defer ss.begin()()).
func (ss *session) begin() func() {
	ss.endIdle()
	ss.mu.Lock()
	ss.busy = true
	ss.activity++
	if ss.timer != nil {
		ss.timer.Stop()
	}
	ss.mu.Unlock()
	return ss.end
}

func (ss *session) end() {
	ss.mu.Lock()
	ss.busy = false
	if ss.timer != nil && !ss.closed {
		ss.timer.Reset(ss.srv.opts.IdleTimeout)
	}
	ss.mu.Unlock()
}

// armAutologout starts the inactivity timer (RFC 9051 §5.4) once the
// client has logged in.
func (ss *session) armAutologout() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.loggedIn = true
	ss.loginTimer.Stop()
	if ss.timer == nil {
		ss.timer = time.AfterFunc(ss.srv.opts.IdleTimeout, ss.autologout)
		if ss.busy {
			ss.timer.Stop() // end() rearms it
		}
	}
}

func (ss *session) autologout() {
	ss.mu.Lock()
	if ss.closed || ss.busy || ss.byeSent {
		ss.mu.Unlock()
		return
	}
	ss.byeSent = true
	ss.mu.Unlock()
	ss.log.Info("autologout", "idle", ss.srv.opts.IdleTimeout.String())
	ss.conn.Bye("Autologout; idle for too long")
}

// errAccountRemoved ends a command refused by accountRemoved. The client
// never sees it: the BYE has closed the connection.
var errAccountRemoved = &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Your account was removed"}

// accountRemoved is asked before every command after login (apart.go). A
// user deleted since (`mailsuite user del`, from another process too)
// gets a BYE, the connection closes and the command is not run (RFC 9051
// §7.1.5: BYE, then the server closes). users.DB.HasUser is a lookup in
// memory, which looks at the users file at most once a second.
func (ss *session) accountRemoved() error {
	if ss.user == "" || ss.srv.opts.Users.HasUser(ss.user) {
		return nil
	}
	ss.mu.Lock()
	sent := ss.byeSent
	ss.byeSent = true
	ss.mu.Unlock()
	if !sent {
		ss.log.Info("account removed; closing session")
		ss.conn.Bye("Your account was removed; closing connection")
	}
	return errAccountRemoved
}

// shutdownTick is called by Shutdown every tick: a session in IDLE, or
// that has not begun a command since the previous tick, gets its BYE now.
// The quiet spell of one tick lets the library finish writing the tagged
// response of a command that has just returned.
func (ss *session) shutdownTick() {
	ss.mu.Lock()
	if ss.closed || ss.byeSent {
		ss.mu.Unlock()
		return
	}
	quiet := !ss.busy && ss.activity == ss.seenActivity
	ss.seenActivity = ss.activity
	if !ss.idling && !quiet {
		ss.mu.Unlock()
		return
	}
	ss.byeSent = true
	ss.mu.Unlock()
	ss.conn.Bye("Server shutting down")
}

// Close ends the session: called once by the library when the connection
// is gone, whatever the state.
func (ss *session) Close() error {
	ss.mu.Lock()
	ss.closed = true
	if ss.timer != nil {
		ss.timer.Stop()
	}
	ss.loginTimer.Stop()
	ss.mu.Unlock()
	ss.endIdle() // waits for a wake-up in progress
	ss.closeSelection()
	if ss.account != nil {
		if err := ss.account.Close(); err != nil {
			ss.log.Warn("closing account", "err", err)
		}
		ss.account = nil
	}
	ss.srv.removeSession(ss)
	ss.log.Info("session end", "duration", time.Since(ss.start).Round(time.Millisecond).String())
	return nil
}

func (ss *session) closeSelection() {
	if ss.sel == nil {
		return
	}
	if err := ss.sel.folder.Close(); err != nil {
		ss.log.Warn("closing folder", "folder", ss.sel.folder.Name(), "err", err)
	}
	ss.sel = nil
	ss.saved = nil // RFC 5182 §2.1: the saved result ends with the selection
}

// utf8Accepted reports whether the client has enabled UTF8=ACCEPT (RFC
// 9755), or IMAP4rev2, which includes it: it may then be sent UTF-8 in
// quoted strings (downgrade.go).
func (ss *session) utf8Accepted() bool {
	caps := ss.conn.EnabledCaps()
	return caps.Has(imap.CapUTF8Accept) || caps.Has(imap.CapIMAP4rev2)
}

// errNotSelected guards selected-state methods; the library checks the
// state first, so this is defensive.
var errNotSelected = badRequest("No mailbox selected")
