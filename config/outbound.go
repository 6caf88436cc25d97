package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailsuite/mailsuite/users"
)

// Outbound configures the delivery of mail to other domains (the outbound
// queue under data_dir/queue).
type Outbound struct {
	// Smarthost, "host:port", takes all outbound mail; "": deliver to
	// each domain's MX hosts.
	Smarthost string `toml:"smarthost"`
	// SmarthostTLS: "starttls" (required, certificate verified),
	// "implicit" (TLS from the first byte, RFC 8314) or "none".
	SmarthostTLS string `toml:"smarthost_tls"`
	// SmarthostUser and SmarthostPasswordFile are the credentials for
	// AUTH at the smarthost; both or neither. The file's first line is
	// the password.
	SmarthostUser         string `toml:"smarthost_user"`
	SmarthostPasswordFile string `toml:"smarthost_password_file"`
	// Routes maps a recipient domain to the "host:port" that takes its
	// mail instead of the domain's MX hosts.
	Routes map[string]string `toml:"routes"`

	// MaxConnections bounds outbound connections in all, and
	// MaxConnectionsPerDomain those to one destination. 0: the default.
	MaxConnections          int `toml:"max_connections"`
	MaxConnectionsPerDomain int `toml:"max_connections_per_domain"`
	// RetryMin is the wait after the first temporary failure, doubling
	// up to RetryMax; Lifetime is how long a message is retried before it
	// is returned to its sender. "0s": the default.
	RetryMin Duration `toml:"retry_min"`
	RetryMax Duration `toml:"retry_max"`
	Lifetime Duration `toml:"lifetime"`
	// DelayWarning is the age at which the sender is told once that a
	// message is still undelivered; "0s" turns the warning off.
	DelayWarning Duration `toml:"delay_warning"`
	// CopyToSent files a copy of every submitted message in the sender's
	// Sent folder (most mail clients save their own copy).
	CopyToSent bool `toml:"copy_to_sent"`
}

// Outbound defaults (the issue's: 5 minutes doubling to 4 hours, 5 days,
// a warning after 4 hours).
const (
	DefaultOutboundConnections        = 20
	DefaultOutboundConnectionsPerHost = 4
	DefaultRetryMin                   = 5 * time.Minute
	DefaultRetryMax                   = 4 * time.Hour
	DefaultLifetime                   = 5 * 24 * time.Hour
	DefaultDelayWarning               = 4 * time.Hour
)

// defaultOutbound is Outbound's part of Default.
func defaultOutbound() Outbound {
	return Outbound{
		SmarthostTLS:            "starttls",
		MaxConnections:          DefaultOutboundConnections,
		MaxConnectionsPerDomain: DefaultOutboundConnectionsPerHost,
		RetryMin:                Duration{Duration: DefaultRetryMin},
		RetryMax:                Duration{Duration: DefaultRetryMax},
		Lifetime:                Duration{Duration: DefaultLifetime},
		DelayWarning:            Duration{Duration: DefaultDelayWarning},
	}
}

// fillZeroes puts the defaults in place of zeroes, except DelayWarning,
// whose zero means "off".
func (o *Outbound) fillZeroes() {
	d := defaultOutbound()
	if o.MaxConnections == 0 {
		o.MaxConnections = d.MaxConnections
	}
	if o.MaxConnectionsPerDomain == 0 {
		o.MaxConnectionsPerDomain = d.MaxConnectionsPerDomain
	}
	for _, p := range []struct{ got, def *Duration }{
		{&o.RetryMin, &d.RetryMin}, {&o.RetryMax, &d.RetryMax}, {&o.Lifetime, &d.Lifetime},
	} {
		if p.got.Duration == 0 && !p.got.invalid {
			*p.got = *p.def
		}
	}
	if o.SmarthostTLS == "" {
		o.SmarthostTLS = d.SmarthostTLS
	}
}

// Equal reports whether two Outbound sections are the same.
func (o Outbound) Equal(p Outbound) bool {
	if len(o.Routes) == 0 && len(p.Routes) == 0 {
		o.Routes, p.Routes = nil, nil
	}
	return reflect.DeepEqual(o, p)
}

// checkOutbound reports the problems of [outbound].
func (c *Config) checkOutbound(ps *problems) {
	o := c.Outbound
	if o.Smarthost != "" {
		if msg := hostPortProblem(o.Smarthost); msg != "" {
			ps.add("outbound.smarthost", msg)
		}
	}
	switch o.SmarthostTLS {
	case "starttls", "implicit", "none":
	default:
		ps.add("outbound.smarthost_tls", fmt.Sprintf("%q is not one of starttls, implicit, none", o.SmarthostTLS))
	}
	switch {
	case (o.SmarthostUser == "") != (o.SmarthostPasswordFile == ""):
		ps.add("outbound.smarthost_user", "smarthost_user and smarthost_password_file go together: set both or neither")
	case o.SmarthostUser != "" && o.Smarthost == "":
		ps.add("outbound.smarthost_user", "credentials are only used with a smarthost; set outbound.smarthost too")
	case o.SmarthostUser != "":
		if msg := checkReadable(o.SmarthostPasswordFile); msg != "" {
			ps.add("outbound.smarthost_password_file", msg)
		} else if _, err := ReadPassword(o.SmarthostPasswordFile); err != nil {
			ps.add("outbound.smarthost_password_file", err.Error())
		}
		if o.SmarthostTLS == "none" {
			host, _, _ := net.SplitHostPort(o.Smarthost)
			if ip, err := netip.ParseAddr(host); host != "localhost" && (err != nil || !ip.IsLoopback()) {
				ps.add("outbound.smarthost_tls", `"none" would send the smarthost password in the clear; use starttls or implicit (none is allowed with credentials only for a loopback address)`)
			}
		}
	}
	keys := make([]string, 0, len(o.Routes))
	for d := range o.Routes {
		keys = append(keys, d)
	}
	slices.Sort(keys)
	for _, d := range keys {
		key := "outbound.routes." + d
		switch {
		case !users.ValidDomain(d):
			ps.add(key, fmt.Sprintf("%q is not a domain name", d))
		case slices.ContainsFunc(c.Domains, func(l string) bool { return strings.EqualFold(l, d) }):
			ps.add(key, fmt.Sprintf("%s is one of this server's domains; its mail is delivered here, never routed", d))
		}
		if msg := hostPortProblem(o.Routes[d]); msg != "" {
			ps.add(key, msg)
		}
	}
	if o.MaxConnections < 0 {
		ps.add("outbound.max_connections", "must not be negative (0 means the default)")
	}
	if o.MaxConnectionsPerDomain < 0 {
		ps.add("outbound.max_connections_per_domain", "must not be negative (0 means the default)")
	}
	for _, t := range []struct {
		key string
		d   Duration
	}{
		{"outbound.retry_min", o.RetryMin}, {"outbound.retry_max", o.RetryMax},
		{"outbound.lifetime", o.Lifetime}, {"outbound.delay_warning", o.DelayWarning},
	} {
		if msg := t.d.problem(); msg != "" {
			ps.add(t.key, msg)
		}
	}
	if o.RetryMax.Duration > 0 && o.RetryMax.Duration < o.RetryMin.Duration {
		ps.add("outbound.retry_max", fmt.Sprintf("%s is shorter than retry_min (%s)", o.RetryMax.Duration, o.RetryMin.Duration))
	}
}

// hostPortProblem says what is wrong with a "host:port" next hop.
func hostPortProblem(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return fmt.Sprintf(`%q is not host:port; write it like "smtp.example.net:587" or "[2001:db8::1]:25"`, s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.Trim(port, "0123456789") != "" {
		return fmt.Sprintf("port %q must be a number from 1 to 65535", port)
	}
	if _, err := netip.ParseAddr(host); err != nil && !users.ValidDomain(host) {
		return fmt.Sprintf("host %q is neither an IP address nor a host name", host)
	}
	return ""
}

// ReadPassword reads a password file: its first line, without the line
// end. An empty password is an error.
func ReadPassword(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %q: %s", path, errText(err))
	}
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", fmt.Errorf("%q holds no password on its first line", path)
	}
	return line, nil
}

// logValue renders [outbound] for the start-up line, without the password.
func (o Outbound) logValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("smarthost", o.Smarthost),
		slog.String("smarthost_tls", o.SmarthostTLS),
		slog.String("smarthost_user", o.SmarthostUser),
		slog.Int("max_connections", o.MaxConnections),
		slog.Int("max_connections_per_domain", o.MaxConnectionsPerDomain),
		slog.Duration("retry_min", o.RetryMin.Duration),
		slog.Duration("retry_max", o.RetryMax.Duration),
		slog.Duration("lifetime", o.Lifetime.Duration),
		slog.Duration("delay_warning", o.DelayWarning.Duration),
		slog.Bool("copy_to_sent", o.CopyToSent),
	}
	if len(o.Routes) > 0 {
		var r []slog.Attr
		for d, a := range o.Routes {
			r = append(r, slog.String(d, a))
		}
		attrs = append(attrs, slog.Attr{Key: "routes", Value: slog.GroupValue(r...)})
	}
	return slog.GroupValue(attrs...)
}
