package smtpd

import (
	"errors"
	"log/slog"
	"strings"
	"sync"

	"github.com/emersion/go-smtp"

	"github.com/mailsuite/mailsuite/users"
)

// session is go-smtp's Session for one greeting (EHLO/HELO) on a
// connection; go-smtp starts a new one after STARTTLS.
//
// Every method returns only errors made by reply() (errors.go).
type session struct {
	c    *conn
	sc   *smtp.Conn
	opts *Options

	// mu guards everything below: with BDAT (RFC 3030), go-smtp runs
	// Data in its own goroutine while Reset may be called.
	mu   sync.Mutex
	user string       // canonical address once AUTH succeeded
	log  *slog.Logger // connection logger, plus the user once known
	tx   transaction
}

// transaction is one MAIL ... DATA exchange.
type transaction struct {
	active     bool
	from       string // reverse-path as given ("" for <>)
	returnPath string // formatted for Return-Path, with brackets
	smtputf8   bool
	// helo and tls are read from go-smtp's Conn at MAIL, in the
	// connection's goroutine: Data may run in another (BDAT) while the
	// client sends EHLO or STARTTLS, which change them.
	helo    string
	tls     bool
	rcpts   []string        // forward-paths accepted, as given
	targets []string        // canonical users reached, in order
	seen    map[string]bool // of targets, and "remote:"+address
	remote  []string        // recipients in other domains (submission), for the queue
}

var (
	_ smtp.Session     = (*session)(nil)
	_ smtp.AuthSession = (*session)(nil)
)

func (c *conn) newSession(sc *smtp.Conn) (smtp.Session, error) {
	return &session{c: c, sc: sc, opts: &c.srv.opts, log: c.log}, nil
}

func (s *session) logger() *slog.Logger {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log
}

// Reset ends the transaction (RSET, a new EHLO, after DATA). After DATA
// (and the last BDAT chunk) go-smtp calls it right after writing the reply,
// which is when a closing connection may close (drain.go).
func (s *session) Reset() {
	s.mu.Lock()
	s.tx = transaction{}
	s.mu.Unlock()
	s.closeSizeLimit()
	s.c.replied(s.sc.Conn())
}

// Logout is called when the connection closes or STARTTLS succeeds.
func (s *session) Logout() error {
	s.Reset()
	return nil
}

// Mail starts a transaction (RFC 5321 §4.1.1.2). go-smtp has checked the
// syntax and the SIZE parameter (RFC 1870 §6.3: 552 5.3.4 over the limit).
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// RFC 4954 §6 and RFC 6409 §4.3: submission needs AUTH first;
	// go-smtp does not enforce it.
	if s.opts.Mode == Submission && s.user == "" {
		return reply(errAuthRequired)
	}
	// RFC 5321 §4.1.4: MAIL inside a transaction is a sequence error
	// (go-smtp would silently start over, keeping its recipient list).
	if s.tx.active {
		return reply(errNestedMail)
	}
	smtputf8 := opts != nil && opts.UTF8
	rp, err := parseSender(from, smtputf8)
	if err == nil && s.opts.Mode == Submission {
		err = s.checkSender(from) // sender.go
	}
	if err != nil {
		s.log.Info("sender rejected", "from", from, "reason", err.Error())
		return reply(err)
	}
	_, isTLS := s.c.tlsState(s.sc)
	s.tx = transaction{active: true, from: from, returnPath: rp, smtputf8: smtputf8,
		helo: s.sc.Hostname(), tls: isTLS, seen: map[string]bool{}}
	s.openSizeLimit()
	return nil
}

// Rcpt adds a recipient (RFC 5321 §4.1.1.3) after checking it against the
// service's policy; every refusal is logged.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tx.active { // go-smtp checks this; keep the invariant local
		return reply(errNoRecipients)
	}
	if len(s.tx.rcpts) >= s.opts.MaxRecipients {
		return s.refuseRcpt(to, errTooManyRcpts)
	}
	targets, err := s.resolve(to)
	if errors.Is(err, errNoOutbound) && s.opts.Outbound != nil {
		return s.addRemote(to) // outbound.go
	}
	if err != nil {
		return s.refuseRcpt(to, err)
	}
	s.tx.rcpts = append(s.tx.rcpts, to)
	for _, t := range targets {
		// A user reached twice (two aliases, alice and alice+tag)
		// gets the message once.
		if !s.tx.seen[t] {
			s.tx.seen[t] = true
			s.tx.targets = append(s.tx.targets, t)
		}
	}
	return nil
}

func (s *session) refuseRcpt(to string, err error) error {
	r := reply(err)
	s.log.Info("recipient rejected", "from", s.tx.from, "rcpt", to,
		"code", r.Code, "reason", err.Error())
	return r
}

// resolve applies the recipient policy and returns the users reached.
func (s *session) resolve(to string) ([]string, error) {
	db := s.opts.Users
	lookup := to
	// RFC 5321 §4.1.1.3: "<Postmaster>" without a domain must be
	// accepted; the users DB knows which postmaster that is.
	if !strings.EqualFold(to, "postmaster") {
		rcpt, err := parseRecipient(to, s.tx.smtputf8)
		if err != nil {
			return nil, err
		}
		if !db.IsLocalDomain(rcpt.Domain) {
			return nil, s.notLocal()
		}
		lookup = rcpt.String()
	}
	targets, err := db.Resolve(lookup)
	switch {
	case errors.Is(err, users.ErrNotLocal):
		return nil, s.notLocal()
	case err != nil:
		return nil, err
	case len(targets) == 0:
		return nil, users.ErrNoUser
	}
	return targets, nil
}

// notLocal is the answer for a recipient in another domain. The inbound
// service never relays (RFC 5321 §3.6.1 lets a server decline to; an MX that
// does not is an open relay). Submission hands it to the outbound queue
// (Rcpt), or refuses it temporarily when there is none.
func (s *session) notLocal() error {
	if s.opts.Mode == Submission {
		return errNoOutbound
	}
	return errRelayDenied
}
