package pop3d

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/mailsuite/mailsuite/users"
)

// The answer when credentials may not be sent on this connection. RFC 3206:
// [AUTH] covers "an attempt to authenticate in violation of policy".
const replyPlaintextRefused = "-ERR [AUTH] plaintext authentication not allowed without TLS"

var (
	errInUse    = errors.New("pop3d: maildrop in use")
	errBadPlain = errors.New("pop3d: malformed PLAIN response")
	errAuthzid  = errors.New("pop3d: authorization identity differs from login")
)

// cmdUser records the name for PASS (RFC 1939 §7). It always answers +OK
// when login is allowed, so that no one learns which names exist.
func (ss *session) cmdUser(cmd command) {
	if !ss.loginAllowed() {
		ss.fail(replyPlaintextRefused)
		return
	}
	name := strings.TrimSpace(cmd.rest)
	if name == "" {
		ss.fail("-ERR USER needs a name")
		return
	}
	ss.pendingUser = name
	ss.ok("+OK send PASS")
}

// cmdPass completes USER/PASS (RFC 1939 §7). The password is the whole rest
// of the line: "a POP3 server may treat spaces in the argument as part of
// the password, instead of as argument separators".
func (ss *session) cmdPass(cmd command) {
	if !ss.loginAllowed() {
		ss.fail(replyPlaintextRefused)
		return
	}
	if ss.pendingUser == "" {
		ss.fail("-ERR send USER first")
		return
	}
	name := ss.pendingUser
	ss.pendingUser = ""
	if cmd.rest == "" {
		ss.fail("-ERR PASS needs a password")
		return
	}
	ss.login("USER", name, cmd.rest)
}

// cmdAuth runs AUTH (RFC 5034 §4) with the one mechanism we offer, PLAIN
// (RFC 4616), with or without an initial response.
func (ss *session) cmdAuth(cmd command) {
	if len(cmd.args) == 0 {
		// RFC 1734 clients (older Outlook) send a bare AUTH to list the
		// mechanisms; RFC 5034 leaves it undefined. List those usable now.
		ss.ok("+OK")
		if ss.loginAllowed() {
			ss.reply("PLAIN")
		}
		ss.reply(".")
		return
	}
	if len(cmd.args) > 2 {
		ss.fail("-ERR too many arguments")
		return
	}
	if !strings.EqualFold(cmd.args[0], "PLAIN") {
		ss.fail("-ERR unsupported authentication mechanism")
		return
	}
	if !ss.loginAllowed() {
		ss.fail(replyPlaintextRefused)
		return
	}

	var encoded string
	if len(cmd.args) == 2 {
		// RFC 5034 §4: an initial response of "=" is an empty one.
		encoded = cmd.args[1]
		if encoded == "=" {
			encoded = ""
		}
	} else {
		// RFC 5034 §4: "+" and a space, then the (empty) challenge.
		ss.reply("+ ")
		if !ss.flushIfIdle() {
			ss.quit = true
			return
		}
		line, err := ss.readLine(ss.srv.opts.MaxAuthLineLength)
		if errors.Is(err, errLineTooLong) {
			ss.fail("-ERR authentication line too long")
			return
		}
		if err != nil {
			ss.readFailed(err)
			ss.quit = true
			return
		}
		// RFC 5034 §4: a line with a single "*" cancels; the server
		// MUST answer -ERR.
		if line == "*" {
			ss.fail("-ERR authentication cancelled")
			return
		}
		encoded = line
	}

	// RFC 5034 §4: a response that is not base64 rejects the command.
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		ss.fail("-ERR invalid base64 in authentication response")
		return
	}
	authzid, authcid, password, err := decodePlain(raw)
	if err != nil {
		ss.authFailed("PLAIN", authcid, err)
		return
	}
	// We do not act for others: an authorization identity must name the
	// user who logs in (checked again against the canonical name below).
	if authzid != "" && !strings.EqualFold(authzid, authcid) {
		ss.authFailed("PLAIN", authcid, errAuthzid)
		return
	}
	ss.login("PLAIN", authcid, password)
}

// decodePlain splits a PLAIN message (RFC 4616 §2):
// message = [authzid] UTF8NUL authcid UTF8NUL passwd, with authcid and
// passwd not empty and no further NUL.
func decodePlain(raw []byte) (authzid, authcid, password string, err error) {
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 {
		return "", "", "", errBadPlain
	}
	if len(parts[1]) == 0 || len(parts[2]) == 0 {
		return "", string(parts[1]), "", errBadPlain
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}

// login checks the credentials and, if they are good, opens the maildrop
// and takes the message snapshot (RFC 1939 §4, the move to TRANSACTION).
func (ss *session) login(method, name, password string) {
	// The client goes with the check for the shared login limiter
	// (users.Limited).
	ctx := users.WithClient(ss.srv.ctx, ss.conn.RemoteAddr(), "pop3")
	user, err := ss.srv.opts.Users.Authenticate(ctx, name, password)
	if err != nil {
		ss.authFailed(method, name, err)
		return
	}
	log := ss.log.With("method", method, "user_tried", name, "user", user, "tls", ss.tls)

	if ss.srv.opts.ExclusiveLogin {
		if !ss.srv.lockUser(user) {
			log.Info("pop3 login", "result", "fail", "reason", "maildrop in use")
			ss.fail(errorReply(errInUse))
			return
		}
		ss.locked = true
		ss.user = user
	}
	if err := ss.openMaildrop(user); err != nil {
		log.Error("pop3 login", "result", "fail", "reason", "maildrop unavailable", "err", err)
		ss.closeMaildrop()
		ss.user = ""
		ss.fail(errorReply(err))
		return
	}
	ss.user = user
	ss.log = ss.log.With("user", user)
	ss.state = stateTransaction
	count, size := ss.totals()
	log.Info("pop3 login", "result", "ok", "messages", count)
	ss.ok("+OK maildrop has %s (%s)", plural(count, "message"), plural(size, "octet"))
}

// openMaildrop opens the user's INBOX read-write and snapshots it.
func (ss *session) openMaildrop(user string) error {
	acct, err := ss.srv.opts.Store.Account(user)
	if err != nil {
		return err
	}
	ss.acct = acct
	folder, err := acct.Open("INBOX", false)
	if err != nil {
		return err
	}
	ss.folder = folder
	infos, err := folder.Messages()
	if err != nil {
		return err
	}
	ss.msgs = make([]message, len(infos))
	for i, info := range infos {
		ss.msgs[i] = message{info: info}
	}
	return nil
}

// authFailed logs a failed login (never the password), waits AuthDelay,
// answers, and closes the connection after MaxAuthFailures.
func (ss *session) authFailed(method, name string, err error) {
	ss.authFailures++
	reason := "bad credentials"
	switch {
	case errors.Is(err, errBadPlain):
		reason = "malformed PLAIN response"
	case errors.Is(err, errAuthzid):
		reason = "authorization identity differs"
	case isAuthError(err):
	default:
		reason = "error"
	}
	ss.log.Info("pop3 login", "result", "fail", "method", method, "user_tried", name,
		"reason", reason, "tls", ss.tls, "err", err)
	if !ss.srv.sleep(ss.srv.opts.AuthDelay) {
		ss.endReason = "server shutdown"
		ss.quit = true
		return
	}
	switch {
	case errors.Is(err, errBadPlain), errors.Is(err, errAuthzid):
		ss.fail(errorReply(users.ErrAuthFailed))
	default:
		ss.fail(errorReply(err))
	}
	if ss.authFailures >= ss.srv.opts.MaxAuthFailures {
		ss.endReason = "too many failed logins"
		ss.quit = true
	}
}

// totals counts the messages not marked deleted and their size.
func (ss *session) totals() (count int, size int64) {
	for _, m := range ss.msgs {
		if !m.deleted {
			count++
			size += m.info.Size
		}
	}
	return count, size
}
