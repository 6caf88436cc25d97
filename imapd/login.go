package imapd

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"

	"github.com/mailsuite/mailsuite/users"
)

// Login checks a LOGIN or AUTHENTICATE PLAIN (the library's PLAIN server
// calls Login too). RFC 9051 §6.2.3: the answer to any failure is the same
// NO [AUTHENTICATIONFAILED], so that a client cannot tell a wrong password
// from an unknown user.
func (ss *session) Login(username, password string) error {
	defer ss.begin()()
	// The library refuses authentication on a plaintext connection of the
	// strict server already; this covers the lax one (DESIGN.md inv. 5).
	if !isTLS(ss.conn.NetConn()) && !ss.srv.plaintextAllowed(ss.remote) {
		ss.log.Warn("login refused: no TLS", "user", logName(username))
		return errPrivacyRequired
	}
	ctx, cancel := context.WithTimeout(ss.srv.ctx, authTimeout)
	defer cancel()
	// The client goes with the check for the shared login limiter
	// (users.Limited).
	ctx = users.WithClient(ctx, ss.remote, "imap")
	user, err := ss.srv.opts.Users.Authenticate(ctx, username, password)
	if err != nil {
		if errors.Is(err, users.ErrAuthFailed) {
			ss.log.Warn("login failed", "user", logName(username))
		} else {
			ss.log.Error("login failed", "user", logName(username), "err", err)
		}
		ss.authDelay()
		return ss.protoError("LOGIN", ctxAuth, err)
	}
	acct, err := ss.srv.opts.Store.Account(user)
	if err != nil {
		ss.log.Error("login: opening account", "user", user, "err", err)
		return ss.protoError("LOGIN", ctxPlain, err)
	}
	ss.user = user
	ss.account = acct
	ss.log = ss.log.With("user", user)
	ss.log.Info("login")
	ss.armAutologout()
	return nil
}

// authDelay slows password guessing down; the server's close cuts it short.
func (ss *session) authDelay() {
	d := ss.srv.opts.AuthDelay
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ss.srv.ctx.Done():
	}
}

// logName makes an attempted login name safe to log: bounded and valid
// UTF-8 (the log handler quotes control characters).
func logName(s string) string {
	const max = 128
	if len(s) > max {
		s = s[:max]
	}
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // replaces invalid bytes with U+FFFD
	}
	return s
}

// AppendLimit is advertised as APPENDLIMIT=n (RFC 7889) and enforced by
// the library before it asks for the literal.
func (ss *session) AppendLimit() uint32 {
	return uint32(ss.srv.opts.AppendLimit)
}

// AuthenticateMechanisms is what AUTHENTICATE offers (AUTH=PLAIN, RFC
// 4616); the library advertises it only where login is allowed.
func (ss *session) AuthenticateMechanisms() []string {
	return []string{sasl.Plain}
}

// Authenticate gives the SASL server for AUTHENTICATE (RFC 9051 §6.2.2).
// The session runs its own PLAIN server rather than the library's so that
// a malformed PLAIN message ("=" or an empty line, which decode to no
// octets) is answered as a failed authentication, not as a server bug.
func (ss *session) Authenticate(mech string) (sasl.Server, error) {
	if !strings.EqualFold(mech, sasl.Plain) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "SASL mechanism not supported"}
	}
	return &plainServer{ss: ss}, nil
}

// plainServer is the server side of SASL PLAIN (RFC 4616 §2): one message,
// authzid NUL authcid NUL passwd.
type plainServer struct {
	ss       *session
	asked    bool // the empty challenge has been sent
	finished bool
}

func (p *plainServer) Next(response []byte) (challenge []byte, done bool, err error) {
	if p.finished {
		return nil, true, errAuthFailed
	}
	if response == nil && !p.asked {
		// RFC 9051 §6.2.2: no initial response; ask for it with an empty
		// challenge.
		p.asked = true
		return []byte{}, false, nil
	}
	p.finished = true
	parts := bytes.Split(response, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		p.ss.log.Warn("login failed: malformed PLAIN message")
		return nil, true, errAuthFailed
	}
	identity, username, password := string(parts[0]), string(parts[1]), string(parts[2])
	if identity != "" && identity != username {
		// Acting as another user is not offered (RFC 4616 §2: the
		// server decides whether the authcid may act as the authzid).
		p.ss.log.Warn("login refused: authorization identity", "user", logName(username))
		return nil, true, errAuthzFailed
	}
	return nil, true, p.ss.Login(username, password)
}
