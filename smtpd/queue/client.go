package queue

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// conn is an open SMTP session with a remote host, ready for MAIL.
type conn struct {
	q      *Queue
	cl     *smtp.Client
	params *mailParams // under cl: takes BODY=8BITMIME out for 7-bit data
	raw    net.Conn    // the TCP connection, for write deadlines under TLS
	host   string      // the name connected to
	ip     string
	tls    string // TLS*
	sent   int    // transactions completed on it
	used   int    // transactions begun on it
	broken bool   // unusable: close it, do not reuse
	stop   func() bool
}

// quitTimeout bounds the wait for the reply to QUIT, which nothing
// depends on.
const quitTimeout = 30 * time.Second

// quit ends the session politely (RFC 5321 §4.1.1.10), then closes.
func (c *conn) quit() {
	if !c.broken {
		c.cl.CommandTimeout = min(c.q.opts.CommandTimeout, quitTimeout)
		c.cl.Quit()
	}
	c.close()
}

func (c *conn) close() {
	c.stop()
	c.cl.Close()
	c.raw.Close()
}

// errTLSFailed: the TLS handshake after STARTTLS failed; opportunistic
// delivery tries the same address again without STARTTLS.
var errTLSFailed = errors.New("TLS handshake failed")

// tlsPolicy says how a connection uses TLS.
type tlsPolicy int

const (
	tlsOpportunistic tlsPolicy = iota // STARTTLS if offered, any certificate (recorded)
	tlsNever                          // plain text (after a failed handshake, or smarthost "none")
	tlsRequired                       // STARTTLS, certificate verified (smarthost)
	tlsImplicit                       // TLS from the first byte, verified (smarthost)
)

// connect opens a session to the first host of key that answers, trying
// at most MaxAddresses addresses. On failure it returns the result that
// applies to every recipient.
func (q *Queue) connect(ctx context.Context, key string) (*conn, result) {
	hops, fail := q.hops(ctx, key)
	if fail != nil {
		return nil, *fail
	}
	policy := tlsOpportunistic
	var auth *Smarthost
	if key == keySmarthost {
		auth = q.opts.Smarthost
		switch auth.TLS {
		case TLSStartTLS:
			policy = tlsRequired
		case TLSImplicit:
			policy = tlsImplicit
		case TLSNone:
			policy = tlsNever
		}
	}
	last := *tempResult("4.4.1", "", "no mail server could be reached")
	tried, notFound := 0, 0
	for _, h := range hops {
		ips, err := q.addresses(ctx, h)
		if err != nil {
			if isNotFound(err) {
				notFound++
			}
			if h.implicit && isNotFound(err) {
				return nil, *permResult("5.1.2", "", fmt.Sprintf(
					"%s has no mail server: it has no MX record and no A or AAAA record (RFC 5321 section 5.1)", h.name))
			}
			last = *tempResult("4.4.3", "", fmt.Sprintf("cannot find the address of %s: %s", h.name, dnsText(err)))
			continue
		}
		for _, ip := range ips {
			if tried >= q.opts.MaxAddresses {
				return nil, last
			}
			tried++
			c, err := q.dial(ctx, h, ip, policy, auth)
			if errors.Is(err, errTLSFailed) && policy == tlsOpportunistic {
				// RFC 3207 §4.1 leaves it to the client; a failed
				// handshake is retried in plain text, as Postfix does
				// at its default "may" level.
				q.log.Info("TLS handshake failed; trying again without STARTTLS", "host", h.name, "ip", ip, "err", err)
				c, err = q.dial(ctx, h, ip, tlsNever, auth)
			}
			if err == nil {
				return c, result{}
			}
			last = *connResult(err, h.name, ip)
			if last.kind == resPerm {
				return nil, last
			}
		}
	}
	if notFound == len(hops) && len(hops) > 0 {
		return nil, *permResult("5.4.4", "", fmt.Sprintf("no address found for the mail server %s", hops[0].name))
	}
	return nil, last
}

// stageError is a reply or failure while setting up a session, with the
// step it answered.
type stageError struct {
	stage string
	err   error
}

func (e *stageError) Error() string { return e.stage + ": " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// connResult turns a failure to set up a session into a result. All are
// transient: another host or a later try may do better, and even a
// smarthost refusing our credentials is something the admin can fix
// without the mail being lost.
func connResult(err error, host, ip string) *result {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		stage := "the greeting or EHLO"
		var st *stageError
		if errors.As(err, &st) {
			stage = st.stage
		}
		r := smtpResult(err, host, stage)
		r.kind = resTemp // another host, or a later try, may do better
		r.code = "4" + r.code[1:]
		return &r
	}
	return tempResult("4.4.1", "", cleanText(fmt.Sprintf("cannot connect to %s[%s]: %v", host, ip, err), maxTextLen))
}

// dial opens one session: TCP, greeting, EHLO, STARTTLS as the policy
// says, EHLO again, AUTH for a smarthost with credentials.
func (q *Queue) dial(ctx context.Context, h hop, ip string, policy tlsPolicy, auth *Smarthost) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, q.opts.ConnectTimeout)
	raw, err := q.opts.Dialer.DialContext(dctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(h.port)))
	cancel()
	if err != nil {
		return nil, err
	}
	// Shutdown's deadline cuts the connection wherever it is.
	stop := context.AfterFunc(q.ctx, func() { raw.Close() })
	c, err := q.session(raw, h, policy, auth)
	if err != nil {
		stop()
		raw.Close()
		return nil, err
	}
	c.ip, c.stop = ip, stop
	return c, nil
}

func (q *Queue) session(raw net.Conn, h hop, policy tlsPolicy, auth *Smarthost) (*conn, error) {
	c := &conn{q: q, raw: raw, host: h.name, tls: TLSPlain}
	nc := raw
	if policy == tlsImplicit {
		tc := tls.Client(raw, q.verifiedTLS(h.name))
		raw.SetDeadline(time.Now().Add(q.opts.GreetingTimeout))
		if err := tc.Handshake(); err != nil {
			return nil, fmt.Errorf("%w: %v", errTLSFailed, err)
		}
		raw.SetDeadline(time.Time{})
		nc, c.tls = tc, TLSVerified
	}
	c.params = &mailParams{Conn: nc}
	cl := smtp.NewClient(c.params)
	// RFC 5321 §4.5.3.2.1: up to 5 minutes for the 220 greeting.
	cl.CommandTimeout = q.opts.GreetingTimeout
	if err := cl.Hello(q.opts.Hostname); err != nil {
		return nil, err
	}
	cl.CommandTimeout = q.opts.CommandTimeout
	offered, _ := cl.Extension("STARTTLS")
	switch {
	case policy == tlsRequired && !offered:
		return nil, fmt.Errorf("the smarthost does not offer STARTTLS, which smarthost_tls = %q requires", TLSStartTLS)
	case offered && (policy == tlsRequired || policy == tlsOpportunistic):
		var cfg *tls.Config
		var state *string
		if policy == tlsRequired {
			cfg = q.verifiedTLS(h.name)
		} else {
			cfg, state = q.opportunisticTLS(h.name)
		}
		tc, err := q.startTLS(raw, cfg)
		if err != nil {
			return nil, err
		}
		// go-smtp has no public STARTTLS on a client made by NewClient,
		// and its own dialers greet as "localhost". So the STARTTLS
		// exchange is ours (startTLS) and a new client continues over
		// the TLS connection; RFC 3207 §4.2 has the client send EHLO
		// again, with no new greeting, which greeted supplies.
		c.params = &mailParams{Conn: &greeted{Conn: tc, pending: []byte("220 " + h.name + " TLS\r\n")}}
		cl = smtp.NewClient(c.params)
		cl.CommandTimeout = q.opts.CommandTimeout
		if err := cl.Hello(q.opts.Hostname); err != nil {
			return nil, err
		}
		c.tls = TLSVerified
		if state != nil {
			c.tls = *state
		}
	}
	cl.SubmissionTimeout = q.opts.DataEndTimeout
	if auth != nil && auth.Username != "" {
		if c.tls == TLSPlain && !isLoopbackName(h.name) {
			return nil, errors.New("refusing to send smarthost credentials without TLS")
		}
		if err := cl.Auth(sasl.NewPlainClient("", auth.Username, auth.Password)); err != nil {
			return nil, &stageError{"AUTH", err}
		}
	}
	c.cl = cl
	return c, nil
}

// startTLS sends STARTTLS (RFC 3207 §4) on the raw connection, which
// holds nothing unread after the EHLO reply, and makes the handshake.
// Anything the server sent after its 220 is thrown away with the reader
// (RFC 3207 §4.2 forbids trusting it).
func (q *Queue) startTLS(raw net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	raw.SetDeadline(time.Now().Add(q.opts.CommandTimeout))
	defer raw.SetDeadline(time.Time{})
	if _, err := io.WriteString(raw, "STARTTLS\r\n"); err != nil {
		return nil, err
	}
	code, msg, err := textproto.NewReader(bufio.NewReaderSize(raw, 512)).ReadResponse(220)
	if err != nil {
		if code != 0 {
			// RFC 3207 §4: 454 "TLS not available due to temporary
			// reason"; opportunistic delivery goes on in plain text.
			return nil, fmt.Errorf("%w: STARTTLS refused: %d %s", errTLSFailed, code, cleanText(msg, 200))
		}
		return nil, err
	}
	tc := tls.Client(raw, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("%w: %v", errTLSFailed, err)
	}
	return tc, nil
}

// verifiedTLS is the configuration for a host whose certificate must be
// valid for its name (the smarthost).
func (q *Queue) verifiedTLS(host string) *tls.Config {
	return &tls.Config{ServerName: host, RootCAs: q.opts.RootCAs, MinVersion: tls.VersionTLS12}
}

// opportunisticTLS accepts any certificate, as opportunistic STARTTLS must
// to be of use (RFC 7435 §1.3: encryption without authentication beats
// none), and records whether it was valid for the MX host name.
func (q *Queue) opportunisticTLS(host string) (*tls.Config, *string) {
	state := TLSUnverified
	cfg := &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: true, // verified below, result recorded
		MinVersion:         tls.VersionTLS10,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
				DNSName: host, Roots: q.opts.RootCAs, Intermediates: inter,
			})
			if err == nil {
				state = TLSVerified
			}
			return nil
		},
	}
	return cfg, &state
}

func isLoopbackName(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// greeted is a connection that first yields a greeting line the server
// never sent again: go-smtp's client reads a 220 before its EHLO.
type greeted struct {
	net.Conn
	pending []byte
}

func (g *greeted) Read(p []byte) (int, error) {
	if len(g.pending) > 0 {
		n := copy(p, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	}
	return g.Conn.Read(p)
}
