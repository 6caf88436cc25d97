package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// options are the flags, shared by every workload.
type options struct {
	host      string
	smtpPort  int
	smtpProto string // "smtp" or "lmtp"
	smtpAuth  bool
	imapPort  int
	pop3Port  int
	tlsMode   string // "none", "starttls", "implicit"
	tlsCA     string
	tlsName   string

	user, pass string
	rcpt, from string
	mailbox    string

	n        int
	size     int
	conc     int
	perConn  int
	repeat   int
	expungeN int

	duration  time.Duration
	timeout   time.Duration
	storeWait time.Duration
	idleN     int
	idleWait  time.Duration
	pid       int

	maildir     string
	diskDir     string
	diskWriters string

	tag     string
	verbose bool

	stderr io.Writer
	tlsCfg *tls.Config
}

func defineFlags(fs *flag.FlagSet) *options {
	o := &options{}
	fs.StringVar(&o.host, "host", "127.0.0.1", "server address; must be a loopback address (127.0.0.0/8, ::1, localhost)")
	fs.IntVar(&o.smtpPort, "smtp-port", 2525, "SMTP (or LMTP, see -smtp-proto) port for deliveries")
	fs.StringVar(&o.smtpProto, "smtp-proto", "smtp", "smtp or lmtp (RFC 2033, e.g. Dovecot's LMTP listener)")
	fs.BoolVar(&o.smtpAuth, "smtp-auth", false, "AUTH PLAIN with -user/-pass before sending (submission ports)")
	fs.IntVar(&o.imapPort, "imap-port", 2143, "IMAP port")
	fs.IntVar(&o.pop3Port, "pop3-port", 2110, "POP3 port")
	fs.StringVar(&o.tlsMode, "tls", "none", "none, starttls or implicit, for every protocol")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "PEM file to verify the server certificate against (without it the certificate is not verified: loopback only)")
	fs.StringVar(&o.tlsName, "tls-name", "", "server name for TLS (default -host)")
	fs.StringVar(&o.user, "user", "bench@bench.test", "login name (IMAP, POP3, SMTP AUTH)")
	fs.StringVar(&o.pass, "pass", "benchpass", "password")
	fs.StringVar(&o.rcpt, "rcpt", "", "SMTP recipient (default -user)")
	fs.StringVar(&o.from, "from", "mailbench@example.net", "SMTP envelope sender")
	fs.StringVar(&o.mailbox, "mailbox", "INBOX", "IMAP mailbox")
	fs.IntVar(&o.n, "n", 1000, "messages to send, append or write")
	fs.IntVar(&o.size, "size", 4096, "message size in bytes (with CRLF line ends)")
	fs.IntVar(&o.conc, "c", 8, "concurrent sessions (smtp*, append, mixed)")
	fs.IntVar(&o.perConn, "per-conn", 0, "smtpn: messages per connection (0: N/C, one connection per session)")
	fs.IntVar(&o.repeat, "repeat", 3, "timed repetitions of select, fetch, search and pop3 (the median is printed)")
	fs.IntVar(&o.expungeN, "expunge-n", 0, "expunge: messages to mark \\Deleted and expunge (0: -n)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "mixed: how long the clients run")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "the most one workload may take; every connection's deadline")
	fs.DurationVar(&o.storeWait, "store-wait", 2*time.Minute, "smtp1/smtpn: how long to wait for accepted messages to reach the store")
	fs.IntVar(&o.idleN, "idle-n", 100, "idle: sessions to open")
	fs.DurationVar(&o.idleWait, "idle-wait", 10*time.Second, "idle: how long to wait for every session to see the delivery")
	fs.IntVar(&o.pid, "pid", 0, "idle: the server's pid; memory is summed over it and its descendants (/proc)")
	fs.StringVar(&o.maildir, "maildir", "", "Maildir of -mailbox on disk: fill-maildir writes there; smtp1/smtpn check the store there (else over IMAP)")
	fs.StringVar(&o.diskDir, "disk-dir", "", "disk: a directory on the disk to measure (a scratch sub-directory is made and removed)")
	fs.StringVar(&o.diskWriters, "disk-writers", "1,8", "disk: comma-separated writer counts")
	fs.StringVar(&o.tag, "tag", "", "appended to the workload part of every figure name (smtpn-1m_msgs_per_s)")
	fs.BoolVar(&o.verbose, "v", false, "progress on stderr")
	return o
}

func (o *options) validate() error {
	var probs []string
	if err := checkLoopback(o.host); err != nil {
		probs = append(probs, err.Error())
	}
	switch o.smtpProto {
	case "smtp", "lmtp":
	default:
		probs = append(probs, "-smtp-proto must be smtp or lmtp")
	}
	switch o.tlsMode {
	case "none", "starttls", "implicit":
	default:
		probs = append(probs, "-tls must be none, starttls or implicit")
	}
	if o.n < 1 || o.n > 10_000_000 {
		probs = append(probs, "-n must be 1..10000000")
	}
	if o.size < minMessageSize || o.size > 256<<20 {
		probs = append(probs, "-size must be 512 bytes..256 MiB")
	}
	if o.conc < 1 || o.conc > 10_000 {
		probs = append(probs, "-c must be 1..10000")
	}
	if o.repeat < 1 || o.repeat > 1000 {
		probs = append(probs, "-repeat must be 1..1000")
	}
	if o.idleN < 1 || o.idleN > 100_000 {
		probs = append(probs, "-idle-n must be 1..100000")
	}
	if o.perConn < 0 || o.expungeN < 0 {
		probs = append(probs, "-per-conn and -expunge-n must not be negative")
	}
	if o.timeout <= 0 || o.duration <= 0 || o.storeWait <= 0 || o.idleWait <= 0 {
		probs = append(probs, "-timeout, -duration, -store-wait and -idle-wait must be positive")
	}
	if strings.ContainsAny(o.tag, " \t\n") {
		probs = append(probs, "-tag must not contain spaces")
	}
	if _, err := o.writerCounts(); err != nil {
		probs = append(probs, err.Error())
	}
	if o.rcpt == "" {
		o.rcpt = o.user
	}
	if o.tlsName == "" {
		o.tlsName = o.host
	}
	if o.tlsMode != "none" {
		cfg, err := o.buildTLS()
		if err != nil {
			probs = append(probs, err.Error())
		}
		o.tlsCfg = cfg
	}
	if len(probs) > 0 {
		return errors.New(strings.Join(probs, "; "))
	}
	return nil
}

// checkLoopback refuses any target that is not this machine: the tool
// sends load, and load goes only to loopback.
func checkLoopback(host string) error {
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-host %q is not a loopback address: mailbench only loads servers on this machine", host)
	}
	return nil
}

func (o *options) writerCounts() ([]int, error) {
	var out []int
	for _, f := range strings.Split(o.diskWriters, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 || v > 256 {
			return nil, fmt.Errorf("-disk-writers: %q is not a count 1..256", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func (o *options) buildTLS() (*tls.Config, error) {
	cfg := &tls.Config{ServerName: o.tlsName, MinVersion: tls.VersionTLS12}
	if o.tlsCA == "" {
		// Loopback only (checkLoopback): the peer is a server on this
		// machine started by the caller, often with a self-signed
		// certificate; verifying it would measure nothing more.
		cfg.InsecureSkipVerify = true
		return cfg, nil
	}
	pem, err := os.ReadFile(o.tlsCA)
	if err != nil {
		return nil, fmt.Errorf("-tls-ca: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-tls-ca %s: no certificate", o.tlsCA)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

func (o *options) addr(port int) string {
	return net.JoinHostPort(o.host, strconv.Itoa(port))
}

// dial opens a TCP connection that is closed when ctx ends, so that every
// read and write of the workload is bounded by its time. (A deadline on
// the connection would not do: go-smtp and imapclient set their own
// deadlines per command, replacing it.)
func (o *options) dial(ctx context.Context, port int) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", o.addr(port))
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { c.Close() })
	return c, nil
}

// dialImplicit is dial, inside TLS when -tls is implicit.
func (o *options) dialImplicit(ctx context.Context, port int) (net.Conn, error) {
	c, err := o.dial(ctx, port)
	if err != nil || o.tlsMode != "implicit" {
		return c, err
	}
	return tls.Client(c, o.tlsCfg), nil
}

func (o *options) logf(format string, args ...any) {
	if o.verbose && o.stderr != nil {
		fmt.Fprintf(o.stderr, "mailbench: "+format+"\n", args...)
	}
}

// warnf always prints: an error that did not stop the workload.
func (o *options) warnf(format string, args ...any) {
	if o.stderr != nil {
		fmt.Fprintf(o.stderr, "mailbench: "+format+"\n", args...)
	}
}
