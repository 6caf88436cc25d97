package smtpd

import (
	"errors"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/mailsuite/mailsuite/users"
)

// SASL mechanisms offered on submission (RFC 4954). Both send the password
// in the clear, hence the TLS rule.
const (
	mechPlain = "PLAIN" // RFC 4616
	mechLogin = "LOGIN" // draft-murchison-sasl-login
)

// authAllowed reports whether AUTH may run on this connection now: over TLS,
// or in plaintext when the admin allowed it and the client is on loopback.
func (s *session) authAllowed() bool {
	if _, isTLS := s.c.tlsState(s.sc); isTLS {
		return true
	}
	return s.opts.AllowPlaintext && s.c.ip.IsLoopback()
}

// AuthMechanisms is what EHLO advertises: nothing on inbound, and nothing
// before TLS (RFC 4954 §4: a mechanism that would expose the password is
// not offered on a connection that is not protected).
func (s *session) AuthMechanisms() []string {
	if s.opts.Mode != Submission || !s.authAllowed() {
		return nil
	}
	return []string{mechPlain, mechLogin}
}

// Auth starts an AUTH exchange. go-smtp handles the base64 framing, "*"
// cancellation and AUTH after success (503); the sasl.Server we return
// must return only reply() errors, as go-smtp sends an error's text.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if s.opts.Mode != Submission {
		return nil, reply(errAuthNotOffered)
	}
	if !s.authAllowed() {
		s.logger().Info("auth refused: no TLS", "mech", mech)
		// RFC 3207 §4 when STARTTLS is there to be used; RFC 4954
		// §6 (538) when it is not.
		if s.opts.TLSConfig != nil {
			return nil, reply(errNeedStartTLS)
		}
		return nil, reply(errNeedTLS)
	}
	switch mech {
	case mechPlain:
		return &plainServer{auth: s.authenticate}, nil
	case mechLogin:
		return &loginServer{auth: s.authenticate}, nil
	}
	return nil, reply(errAuthMechanism)
}

// authenticate checks one login for the SASL servers. Unknown user and
// wrong password get the same reply; the log names the address tried and
// the client's IP (for fail2ban), never the password.
func (s *session) authenticate(mech, username, password string) error {
	log := s.logger()
	c := s.c
	// The client goes with the check for the shared login limiter
	// (users.Limited).
	ctx := users.WithClient(c.ctx, s.sc.Conn().RemoteAddr(), s.opts.Mode.String())
	user, err := s.opts.Users.Authenticate(ctx, username, password)
	if err == nil {
		s.mu.Lock()
		s.user = user
		s.log = s.log.With("user", user)
		s.mu.Unlock()
		log.Info("auth ok", "user", user, "mech", mech)
		return nil
	}
	if !errors.Is(err, users.ErrAuthFailed) {
		log.Error("auth: user database failed", "user", logString(username), "mech", mech, "err", err)
		return reply(errAuthUnavailable)
	}
	c.mu.Lock()
	c.authFailures++
	failures := c.authFailures
	c.mu.Unlock()
	log.Warn("auth failed", "ip", c.ip.String(), "user", logString(username), "mech", mech, "failures", failures)
	if d := s.opts.AuthDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
		}
	}
	if failures >= s.opts.MaxAuthFailures {
		// RFC 5321 §3.8: 421 then close. go-smtp would write the reply
		// and read the next command, so the reply is written here and
		// the connection closed (drain.go).
		rep := reply(errTooManyAuthFailed)
		c.sayAndClose(s.sc.Conn(), rep)
		return rep
	}
	return reply(errAuthFailed)
}

// logString bounds a client-chosen string before it is logged.
func logString(s string) string {
	const max = 256
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
