package queue

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mailsuite/mailsuite/mailbox"
)

// Resolver is the part of *net.Resolver the delivery uses; tests give a
// fake one so that no real DNS is asked.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Dialer opens TCP connections; *net.Dialer is one.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// TLSMode is how the connection to a smarthost is protected.
type TLSMode string

const (
	// TLSStartTLS requires STARTTLS (RFC 3207) with a valid certificate.
	TLSStartTLS TLSMode = "starttls"
	// TLSImplicit is TLS from the first byte (RFC 8314 §3.3).
	TLSImplicit TLSMode = "implicit"
	// TLSNone is plain text.
	TLSNone TLSMode = "none"
)

// Smarthost is a relay that takes all outbound mail, for hosts whose
// provider blocks port 25. Its certificate is always verified when TLS is
// used; credentials are sent with AUTH PLAIN (RFC 4616).
type Smarthost struct {
	Addr     string // "host:port"
	TLS      TLSMode
	Username string
	Password string
}

// Defaults applied by Open to zero fields.
const (
	DefaultMaxConnections        = 20
	DefaultMaxConnectionsPerHost = 4
	DefaultMaxMessagesPerConn    = 100
	DefaultMaxAddresses          = 10
	DefaultMXPort                = 25
	DefaultRetryMin              = 5 * time.Minute
	DefaultRetryMax              = 4 * time.Hour
	DefaultLifetime              = 5 * 24 * time.Hour
	DefaultDelayWarning          = 4 * time.Hour
	DefaultConnectTimeout        = 30 * time.Second
	// RFC 5321 §4.5.3.2: the client's timeouts for each step.
	DefaultGreetingTimeout  = 5 * time.Minute  // §4.5.3.2.1 initial 220
	DefaultCommandTimeout   = 5 * time.Minute  // §4.5.3.2.2-3 MAIL, RCPT (and EHLO, STARTTLS)
	DefaultDataInitTimeout  = 2 * time.Minute  // §4.5.3.2.4 the 354 to DATA
	DefaultDataBlockTimeout = 3 * time.Minute  // §4.5.3.2.5 each write of data
	DefaultDataEndTimeout   = 10 * time.Minute // §4.5.3.2.6 the reply to the final dot
	DefaultControlInterval  = time.Second
)

// Options configure a Queue. Zero fields take the defaults above.
type Options struct {
	// Hostname is this host's name: EHLO, Reporting-MTA of the DSNs.
	Hostname string
	// Store receives delivery status notifications (into the INBOX of
	// the user who submitted the message).
	Store  mailbox.Store
	Logger *slog.Logger // nil: slog.Default()

	Resolver Resolver       // nil: net.DefaultResolver
	Dialer   Dialer         // nil: a *net.Dialer
	RootCAs  *x509.CertPool // nil: the system's roots
	// MXPort is the port of mail exchangers: 25 except in tests.
	MXPort int

	// Smarthost, when set, takes the mail of every domain without a
	// route.
	Smarthost *Smarthost
	// Routes maps a recipient domain (lower case) to the "host:port"
	// that takes its mail instead of the domain's MX hosts or the
	// smarthost (as Postfix's transport maps over its relayhost). The
	// host's address records are used, not its MX.
	Routes map[string]string

	// DKIMDir holds the signing keys, DKIMDir/DOMAIN/SELECTOR.pem
	// (dkim.go). "": no signing.
	DKIMDir string

	// MaxConnections bounds the outbound connections open at once;
	// MaxConnectionsPerHost the connections to one destination (a
	// domain's MX hosts, one route, or the smarthost).
	MaxConnections        int
	MaxConnectionsPerHost int
	// MaxMessagesPerConn is how many messages one connection carries
	// before it is closed and a new one opened.
	MaxMessagesPerConn int
	// MaxAddresses bounds the addresses tried in one attempt
	// (RFC 5321 §5.1 asks for at least two when there are several).
	MaxAddresses int

	// RetryMin is the wait after the first temporary failure; it doubles
	// with each further one up to RetryMax. Lifetime is how long a
	// message is retried before it is returned to the sender.
	RetryMin time.Duration
	RetryMax time.Duration
	Lifetime time.Duration
	// DelayWarning is the age at which the sender is told once that a
	// message is still undelivered. Negative: never.
	DelayWarning time.Duration

	ConnectTimeout   time.Duration
	GreetingTimeout  time.Duration
	CommandTimeout   time.Duration
	DataInitTimeout  time.Duration
	DataBlockTimeout time.Duration
	DataEndTimeout   time.Duration

	// ControlInterval is how often a running queue looks for requests
	// from the command line (ctl/).
	ControlInterval time.Duration
}

func (o Options) withDefaults() Options {
	pos := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	pos(&o.MaxConnections, DefaultMaxConnections)
	pos(&o.MaxConnectionsPerHost, DefaultMaxConnectionsPerHost)
	pos(&o.MaxMessagesPerConn, DefaultMaxMessagesPerConn)
	pos(&o.MaxAddresses, DefaultMaxAddresses)
	pos(&o.MXPort, DefaultMXPort)
	dur(&o.RetryMin, DefaultRetryMin)
	dur(&o.RetryMax, DefaultRetryMax)
	dur(&o.Lifetime, DefaultLifetime)
	if o.DelayWarning == 0 {
		o.DelayWarning = DefaultDelayWarning
	}
	dur(&o.ConnectTimeout, DefaultConnectTimeout)
	dur(&o.GreetingTimeout, DefaultGreetingTimeout)
	dur(&o.CommandTimeout, DefaultCommandTimeout)
	dur(&o.DataInitTimeout, DefaultDataInitTimeout)
	dur(&o.DataBlockTimeout, DefaultDataBlockTimeout)
	dur(&o.DataEndTimeout, DefaultDataEndTimeout)
	dur(&o.ControlInterval, DefaultControlInterval)
	if o.RetryMax < o.RetryMin {
		o.RetryMax = o.RetryMin
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	routes := make(map[string]string, len(o.Routes))
	for d, a := range o.Routes {
		routes[strings.ToLower(strings.TrimSuffix(d, "."))] = a
	}
	o.Routes = routes
	return o
}

// check reports the options a queue cannot work with.
func (o Options) check() error {
	var errs []error
	if o.Hostname == "" {
		errs = append(errs, errors.New("queue: Options.Hostname is empty"))
	}
	if o.Store == nil {
		errs = append(errs, errors.New("queue: Options.Store is nil"))
	}
	if s := o.Smarthost; s != nil {
		if err := checkHostPort(s.Addr); err != nil {
			errs = append(errs, fmt.Errorf("queue: smarthost: %w", err))
		}
		switch s.TLS {
		case TLSStartTLS, TLSImplicit, TLSNone:
		default:
			errs = append(errs, fmt.Errorf("queue: smarthost TLS mode %q", s.TLS))
		}
	}
	for d, a := range o.Routes {
		if err := checkHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("queue: route for %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// checkHostPort accepts "host:port" with a port from 1 to 65535.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port must be a number from 1 to 65535", s)
	}
	return nil
}
