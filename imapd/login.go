package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"time"
	"unicode/utf8"

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
	if _, isTLS := ss.conn.NetConn().(*tls.Conn); !isTLS && !ss.srv.plaintextAllowed(ss.remote) {
		ss.log.Warn("login refused: no TLS", "user", logName(username))
		return errPrivacyRequired
	}
	ctx, cancel := context.WithTimeout(ss.srv.ctx, authTimeout)
	defer cancel()
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
