package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"time"

	"github.com/mailsuite/mailsuite/mailbox"
	"github.com/mailsuite/mailsuite/users"
)

// Mode says which service a Server provides.
type Mode int

const (
	// Inbound is the MX service (port 25): mail from anyone to local
	// recipients only, no AUTH.
	Inbound Mode = iota + 1
	// Submission is the service for the server's own users (587, 465):
	// AUTH first, then mail to anyone, as an address the user owns
	// (remote recipients go to Options.Outbound).
	Submission
)

func (m Mode) String() string {
	switch m {
	case Inbound:
		return "smtp"
	case Submission:
		return "submission"
	}
	return "invalid"
}

// Resolver is the part of *net.Resolver used for the reverse DNS name in the
// Received header field.
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Defaults applied by New to zero fields.
const (
	DefaultMaxMessageSize  = 32 << 20 // octets
	DefaultMaxRecipients   = 100      // RFC 5321 §4.5.3.1.8: at least 100 must be accepted
	DefaultMaxLineLength   = 4096     // see Options.MaxLineLength
	DefaultTimeout         = 5 * time.Minute
	DefaultMaxConnections  = 500
	DefaultMaxPerIP        = 20
	DefaultMaxAuthFailures = 3
	DefaultLookupTimeout   = 5 * time.Second
)

// Options configure a Server. Zero fields take the defaults above, except
// AuthDelay (zero means no delay) and the booleans.
type Options struct {
	Mode     Mode
	Hostname string // this host's name: greeting, Received "by"
	Store    mailbox.Store
	Users    users.DB

	// TLSConfig enables STARTTLS (RFC 3207); nil: no STARTTLS. For
	// implicit TLS the caller passes a tls.NewListener to Serve; setting
	// TLSConfig as well is harmless (STARTTLS is not offered on a TLS
	// connection).
	TLSConfig *tls.Config
	// AllowPlaintext lets AUTH run without TLS, but only for clients
	// connecting from a loopback address.
	AllowPlaintext bool

	// MaxMessageSize is the SIZE limit (RFC 1870) on the message as the
	// client sends it, before our trace header fields are added: EHLO
	// advertises it, and a message of exactly this many octets is the
	// largest accepted (size.go).
	MaxMessageSize int64
	// MaxRecipients is the number of RCPTs accepted per message; the next
	// one gets 452 4.5.3.
	MaxRecipients int
	// MaxLineLength bounds every line, commands and message text alike
	// (go-smtp applies one limit to both, and closes the connection after
	// a line over it). RFC 5321 §4.5.3.1.4 and §4.5.3.1.6 set 512 and 1000
	// octets, but real mailers send longer text lines, so the default is
	// more generous.
	MaxLineLength int
	// ReadTimeout and WriteTimeout apply to every command and reply and,
	// during DATA, to every read of message data: a client is cut after
	// ReadTimeout (at most twice that) without a single octet, and a
	// DATA cut so is answered 421 and the connection closed (RFC 5321
	// §4.5.3.2: five minutes for the server, three per data block).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// MaxConnections is the number of simultaneous connections, and
	// MaxConnectionsPerIP the number from one client address; more are
	// answered 421 and closed.
	MaxConnections      int
	MaxConnectionsPerIP int
	// MaxAuthFailures is the number of failed AUTH attempts allowed on one
	// connection; the last one is answered 421 and the connection closed.
	MaxAuthFailures int
	// AuthDelay is waited before answering a failed AUTH. Zero: no delay.
	AuthDelay time.Duration

	// Outbound takes submitted mail for other domains (the queue,
	// outbound.go); nil: such recipients get a temporary refusal.
	Outbound Outbound
	// CopyToSent files a copy of each submitted message in the sender's
	// Sent folder (most clients save their own). It needs Outbound, which
	// spools the copy.
	CopyToSent bool

	// Resolver finds the client's host name for the Received header
	// field; nil uses net.DefaultResolver. LookupTimeout bounds it.
	Resolver      Resolver
	LookupTimeout time.Duration

	Logger *slog.Logger // nil: slog.Default()
}

func (o Options) withDefaults() Options {
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = DefaultMaxRecipients
	}
	if o.MaxLineLength <= 0 {
		o.MaxLineLength = DefaultMaxLineLength
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultTimeout
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.MaxConnectionsPerIP <= 0 {
		o.MaxConnectionsPerIP = DefaultMaxPerIP
	}
	if o.MaxAuthFailures <= 0 {
		o.MaxAuthFailures = DefaultMaxAuthFailures
	}
	if o.AuthDelay < 0 {
		o.AuthDelay = 0
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.LookupTimeout <= 0 {
		o.LookupTimeout = DefaultLookupTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// check reports the options Serve cannot work with.
func (o Options) check() error {
	var errs []error
	if o.Mode != Inbound && o.Mode != Submission {
		errs = append(errs, errors.New("smtpd: Options.Mode must be Inbound or Submission"))
	}
	if o.Hostname == "" {
		errs = append(errs, errors.New("smtpd: Options.Hostname is empty"))
	}
	if o.Store == nil {
		errs = append(errs, errors.New("smtpd: Options.Store is nil"))
	}
	if o.Users == nil {
		errs = append(errs, errors.New("smtpd: Options.Users is nil"))
	}
	return errors.Join(errs...)
}
