package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"
)

// Auth governs logins: plaintext, and the limiter of failed logins that
// SMTP AUTH, IMAP and POP3 share (users.Limited).
type Auth struct {
	// AllowPlaintext lets AUTH/LOGIN/USER run without TLS, but only for
	// clients connecting from a loopback address.
	AllowPlaintext bool `toml:"allow_plaintext"`

	// FailureWindow: failed logins older than this are forgotten.
	FailureWindow Duration `toml:"failure_window"`
	// FailureDelay is how long each failed login waits for its answer;
	// after the first three in the window (from one IP or for one
	// account) it doubles with each failure, up to MaxFailureDelay.
	// "0s": no delay.
	FailureDelay    Duration `toml:"failure_delay"`
	MaxFailureDelay Duration `toml:"max_failure_delay"`
	// LockoutIPFailures failures from one IP (an IPv6 /64) within the
	// window lock that IP out of every login for LockoutTime; 0: never.
	LockoutIPFailures int `toml:"lockout_ip_failures"`
	// LockoutAccountFailures failures for one account lock it out, except
	// for IPs it logged in from before; 0: never.
	LockoutAccountFailures int      `toml:"lockout_account_failures"`
	LockoutTime            Duration `toml:"lockout_time"`
	// Exempt lists IP addresses and CIDR blocks that are never slowed or
	// locked out (loopback is not exempt unless listed).
	Exempt []string `toml:"exempt"`
}

// Defaults of the login limiter.
const (
	DefaultFailureWindow          = 15 * time.Minute
	DefaultFailureDelay           = time.Second
	DefaultMaxFailureDelay        = 15 * time.Second
	DefaultLockoutIPFailures      = 10
	DefaultLockoutAccountFailures = 30
	DefaultLockoutTime            = 15 * time.Minute
)

func defaultAuth() Auth {
	return Auth{
		FailureWindow:          Duration{Duration: DefaultFailureWindow},
		FailureDelay:           Duration{Duration: DefaultFailureDelay},
		MaxFailureDelay:        Duration{Duration: DefaultMaxFailureDelay},
		LockoutIPFailures:      DefaultLockoutIPFailures,
		LockoutAccountFailures: DefaultLockoutAccountFailures,
		LockoutTime:            Duration{Duration: DefaultLockoutTime},
	}
}

// Equal reports whether two Auth sections say the same.
func (a Auth) Equal(b Auth) bool {
	return a.AllowPlaintext == b.AllowPlaintext && a.FailureWindow == b.FailureWindow &&
		a.FailureDelay == b.FailureDelay && a.MaxFailureDelay == b.MaxFailureDelay &&
		a.LockoutIPFailures == b.LockoutIPFailures && a.LockoutAccountFailures == b.LockoutAccountFailures &&
		a.LockoutTime == b.LockoutTime && slices.Equal(a.Exempt, b.Exempt)
}

// ExemptPrefixes returns Exempt parsed; entries that do not parse (which
// Validate reports) are left out.
func (a Auth) ExemptPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range a.Exempt {
		if p, ok := parsePrefix(s); ok {
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix reads "192.0.2.0/24", "2001:db8::/32" or a single address.
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			// Clients are matched by their IPv4 form.
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), true
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		ip = ip.Unmap()
		return netip.PrefixFrom(ip, ip.BitLen()), true
	}
	return netip.Prefix{}, false
}

// checkAuth reports the [auth] values the limiter cannot use. Zero
// durations and counts are allowed where they mean "none" or "never".
func (c *Config) checkAuth(ps *problems) {
	a := c.Auth
	for _, d := range []struct {
		key      string
		v        Duration
		positive bool
	}{
		{"auth.failure_window", a.FailureWindow, true},
		{"auth.failure_delay", a.FailureDelay, false},
		{"auth.max_failure_delay", a.MaxFailureDelay, false},
		{"auth.lockout_time", a.LockoutTime, true},
	} {
		switch msg := d.v.problem(); {
		case msg != "":
			ps.add(d.key, msg)
		case d.positive && d.v.Duration == 0:
			ps.add(d.key, `must be longer than "0s"`)
		}
	}
	if a.MaxFailureDelay.problem() == "" && a.FailureDelay.problem() == "" && a.MaxFailureDelay.Duration < a.FailureDelay.Duration {
		ps.add("auth.max_failure_delay", fmt.Sprintf("must be at least failure_delay (%s)", a.FailureDelay.Duration))
	}
	for _, n := range []struct {
		key string
		v   int
	}{
		{"auth.lockout_ip_failures", a.LockoutIPFailures},
		{"auth.lockout_account_failures", a.LockoutAccountFailures},
	} {
		if n.v < 0 {
			ps.add(n.key, "must not be negative (0 means never)")
		}
	}
	for _, s := range a.Exempt {
		if _, ok := parsePrefix(s); !ok {
			ps.add("auth.exempt", fmt.Sprintf(`%q is not an IP address or a CIDR block like "192.0.2.0/24"`, s))
		}
	}
}

func (a Auth) logValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("allow_plaintext", a.AllowPlaintext),
		slog.Duration("failure_window", a.FailureWindow.Duration),
		slog.Duration("failure_delay", a.FailureDelay.Duration),
		slog.Duration("max_failure_delay", a.MaxFailureDelay.Duration),
		slog.Int("lockout_ip_failures", a.LockoutIPFailures),
		slog.Int("lockout_account_failures", a.LockoutAccountFailures),
		slog.Duration("lockout_time", a.LockoutTime.Duration),
		slog.Any("exempt", a.Exempt),
	)
}
