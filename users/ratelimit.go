package users

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Login rate limiting (issue 5, point 3). Limited wraps a DB so that every
// front end that checks a password through it (SMTP AUTH, IMAP LOGIN and
// AUTHENTICATE, POP3 USER/PASS and AUTH) shares one memory of failures:
//
//   - Failed logins are counted per client IP (IPv6 by /64, the block one
//     host usually holds) and per login name, over a sliding window.
//   - Each failure is answered after a delay: Delay for the first
//     FreeFailures failures of the IP or name in the window, then twice as
//     long for each further one, up to MaxDelay.
//   - IPLockout failures from one IP lock that IP out, and AccountLockout
//     failures for one name lock the name out, for LockoutTime. A name's
//     lockout does not apply to an IP that logged in to it successfully in
//     the last TrustedFor, so that an attacker cannot lock the owner out.
//   - A locked-out attempt is answered exactly as a wrong password is (same
//     error, same delay), whether or not the password was right: a client
//     learns neither that a lockout exists nor that a guess was good. The
//     owner's successful login from a trusted IP does not end a lockout
//     for the others.
//   - Every failure is one log line, msg="auth failure", whose first
//     attribute is ip= and which names the login tried (never the
//     password), for fail2ban.
//
// The front end says who is asking by putting the client on the context
// (WithClient). Without it only the per-name limit applies.

// LimitOptions configure a Limited. Zero fields take the defaults noted.
type LimitOptions struct {
	// Window: failures older than this are forgotten. Default 15 minutes.
	Window time.Duration
	// Delay is how long each failure waits before it is answered; zero:
	// no delay at all (tests).
	Delay time.Duration
	// FreeFailures is how many failures in the window are answered after
	// Delay before the delay starts to double. Default 3.
	FreeFailures int
	// MaxDelay caps the doubling. Default (and at least) Delay.
	MaxDelay time.Duration
	// IPLockout is the number of failures from one IP within Window that
	// locks the IP out; zero: never.
	IPLockout int
	// AccountLockout is the number of failures for one login name within
	// Window that locks the name out (except for its trusted IPs); zero:
	// never.
	AccountLockout int
	// LockoutTime is how long a lockout lasts. Default 15 minutes.
	LockoutTime time.Duration
	// TrustedFor is how long an IP that logged in to an account stays
	// exempt from that account's lockout. Default 30 days.
	TrustedFor time.Duration
	// Exempt clients are never slowed or locked out (their failures are
	// still logged). Loopback is not exempt unless listed.
	Exempt []netip.Prefix
	// MaxEntries bounds the memory: the IPs, names and trusted pairs
	// tracked, each. Default 100,000; past it, new ones are not tracked
	// until old ones expire.
	MaxEntries int
	// Logger receives the failure lines. Nil: discard.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now (tests move it).
	Now func() time.Time
}

const (
	defaultLimitWindow   = 15 * time.Minute
	defaultFreeFailures  = 3
	defaultLockoutTime   = 15 * time.Minute
	defaultTrustedFor    = 30 * 24 * time.Hour
	defaultMaxEntries    = 100_000
	sweepInterval        = time.Minute
	maxLoggedLoginLength = 128
)

func (o LimitOptions) withDefaults() LimitOptions {
	if o.Window <= 0 {
		o.Window = defaultLimitWindow
	}
	if o.Delay < 0 {
		o.Delay = 0
	}
	if o.FreeFailures <= 0 {
		o.FreeFailures = defaultFreeFailures
	}
	if o.MaxDelay < o.Delay {
		o.MaxDelay = o.Delay
	}
	if o.IPLockout < 0 {
		o.IPLockout = 0
	}
	if o.AccountLockout < 0 {
		o.AccountLockout = 0
	}
	if o.LockoutTime <= 0 {
		o.LockoutTime = defaultLockoutTime
	}
	if o.TrustedFor <= 0 {
		o.TrustedFor = defaultTrustedFor
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = defaultMaxEntries
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Limited is a DB whose Authenticate is rate limited; the other methods are
// the wrapped DB's. It is safe for concurrent use.
type Limited struct {
	DB
	opts LimitOptions
	keep int // failure times kept per entry

	mu        sync.Mutex
	ips       map[netip.Prefix]*limitEntry
	names     map[string]*limitEntry
	trusted   map[trustKey]time.Time // last successful login
	lastSweep time.Time
	fullNoted bool // the "table full" warning was logged
}

// limitEntry is the recent history of one IP or one login name.
type limitEntry struct {
	failures    []time.Time // oldest first, at most Limited.keep
	lockedUntil time.Time
	pending     int // checks in progress
}

type trustKey struct {
	name string
	ip   netip.Prefix
}

// NewLimited wraps db.
func NewLimited(db DB, opts LimitOptions) *Limited {
	opts = opts.withDefaults()
	keep := max(opts.IPLockout, opts.AccountLockout, opts.FreeFailures+32)
	return &Limited{
		DB:      db,
		opts:    opts,
		keep:    keep,
		ips:     make(map[netip.Prefix]*limitEntry),
		names:   make(map[string]*limitEntry),
		trusted: make(map[trustKey]time.Time),
	}
}

// Client is who asks to log in, as the front end knows it.
type Client struct {
	IP      netip.Addr
	Service string // "submission", "imap", "pop3": for the log line
}

type clientKey struct{}

// WithClient returns ctx carrying the client at remote (a *net.TCPAddr or
// anything whose String is host:port) for Limited. Front ends call it
// around every Authenticate.
func WithClient(ctx context.Context, remote net.Addr, service string) context.Context {
	c := Client{Service: service}
	if remote != nil {
		if ta, ok := remote.(*net.TCPAddr); ok {
			c.IP, _ = netip.AddrFromSlice(ta.IP)
		} else if ap, err := netip.ParseAddrPort(remote.String()); err == nil {
			c.IP = ap.Addr()
		}
		c.IP = c.IP.Unmap()
	}
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the client WithClient put on ctx.
func ClientFrom(ctx context.Context) (Client, bool) {
	c, ok := ctx.Value(clientKey{}).(Client)
	return c, ok
}

// ipBlock is the key an IP is counted under: the address itself for IPv4,
// its /64 for IPv6. The zero Prefix for an unknown IP.
func ipBlock(ip netip.Addr) netip.Prefix {
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// nameKey is the key a login name is counted under: its canonical form
// when it is an address, else the lower-cased text, bounded.
func nameKey(login string) string {
	if c, err := canonical(login, ""); err == nil {
		return c
	}
	return strings.ToLower(truncate(login, maxAddressLen))
}

func (l *Limited) exempt(ip netip.Addr) bool {
	for _, p := range l.opts.Exempt {
		if ip.IsValid() && p.Contains(ip) {
			return true
		}
	}
	return false
}

// Authenticate checks the login through the wrapped DB unless the client
// or the name is locked out; see the comment at the top of this file. The
// only errors are ErrAuthFailed and the wrapped DB's other errors (which
// are not counted).
func (l *Limited) Authenticate(ctx context.Context, address, password string) (string, error) {
	cl, _ := ClientFrom(ctx)
	if l.exempt(cl.IP) {
		user, err := l.DB.Authenticate(ctx, address, password)
		if errors.Is(err, ErrAuthFailed) {
			l.logFailure(cl, address, failureNote{exempt: true})
		}
		return user, err
	}
	block, name := ipBlock(cl.IP), nameKey(address)
	now := l.opts.Now()

	l.mu.Lock()
	l.maybeSweep(now)
	ipE, nameE := l.ipEntry(block), l.nameEntry(name)
	ipE.expire(now)
	nameE.expire(now)
	trusted := l.isTrusted(name, block, now)
	if locked := l.lockedLocked(ipE, nameE, trusted, now); locked != "" {
		// Answered as a wrong password is: not checked, not counted
		// again (so that hammering does not prolong the lockout).
		note := l.noteLocked(ipE, nameE, trusted, now)
		l.mu.Unlock()
		note.locked = locked
		l.logFailure(cl, address, note)
		sleep(ctx, note.delay)
		return "", ErrAuthFailed
	}
	ipE.pending++
	nameE.pending++
	l.mu.Unlock()

	user, err := l.DB.Authenticate(ctx, address, password)

	now = l.opts.Now()
	l.mu.Lock()
	ipE.pending--
	nameE.pending--
	if err == nil {
		if block.IsValid() {
			l.trust(name, block, now)
		}
		l.mu.Unlock()
		return user, nil
	}
	if !errors.Is(err, ErrAuthFailed) {
		l.mu.Unlock()
		return "", err
	}
	var started []string
	if ipE.fail(now, l.keep, l.opts.IPLockout, l.opts.Window, l.opts.LockoutTime) {
		started = append(started, "ip")
	}
	if nameE.fail(now, l.keep, l.opts.AccountLockout, l.opts.Window, l.opts.LockoutTime) {
		started = append(started, "account")
	}
	note := l.noteLocked(ipE, nameE, trusted, now)
	l.mu.Unlock()
	note.started = strings.Join(started, "+")
	l.logFailure(cl, address, note)
	sleep(ctx, note.delay)
	return "", ErrAuthFailed
}

// ipEntry and nameEntry return the entry for a key: the tracked one, a new
// tracked one if there is room, or a detached one (tracked nowhere) for an
// unknown IP or when the table is full.
func (l *Limited) ipEntry(block netip.Prefix) *limitEntry {
	if !block.IsValid() {
		return &limitEntry{}
	}
	e, ok := l.ips[block]
	if !ok {
		e = &limitEntry{}
		if l.room(len(l.ips)) {
			l.ips[block] = e
		}
	}
	return e
}

func (l *Limited) nameEntry(name string) *limitEntry {
	e, ok := l.names[name]
	if !ok {
		e = &limitEntry{}
		if l.room(len(l.names)) {
			l.names[name] = e
		}
	}
	return e
}

// room reports whether a table of n entries may grow, warning once when
// it may not.
func (l *Limited) room(n int) bool {
	if n < l.opts.MaxEntries {
		return true
	}
	if !l.fullNoted {
		l.fullNoted = true
		l.opts.Logger.Warn("auth limiter: tracking table full; new clients or names are not limited until old entries expire",
			"max_entries", l.opts.MaxEntries)
	}
	return false
}

// lockedLocked says why a check may not run now: "ip", "account" or "".
// Besides a lockout in force, a client or name that has failed in the
// window may not have more checks in flight than its lockout allows, so
// that parallel connections cannot get many guesses past the count.
func (l *Limited) lockedLocked(ipE, nameE *limitEntry, trusted bool, now time.Time) string {
	if now.Before(ipE.lockedUntil) {
		return "ip"
	}
	if !trusted && now.Before(nameE.lockedUntil) {
		return "account"
	}
	if n := ipE.count(now, l.opts.Window); l.opts.IPLockout > 0 && n > 0 && n+ipE.pending >= l.opts.IPLockout {
		return "ip"
	}
	if n := nameE.count(now, l.opts.Window); !trusted && l.opts.AccountLockout > 0 && n > 0 && n+nameE.pending >= l.opts.AccountLockout {
		return "account"
	}
	return ""
}

// failureNote is what one failure's log line and delay say.
type failureNote struct {
	ipFailures, nameFailures int
	delay                    time.Duration
	locked                   string // refused unchecked because of this lockout
	started                  string // this failure started these lockouts
	exempt                   bool
}

// noteLocked counts the failures and picks the delay: the name's count
// does not slow a trusted IP down.
func (l *Limited) noteLocked(ipE, nameE *limitEntry, trusted bool, now time.Time) failureNote {
	n := failureNote{
		ipFailures:   ipE.count(now, l.opts.Window),
		nameFailures: nameE.count(now, l.opts.Window),
	}
	worst := n.ipFailures
	if !trusted {
		worst = max(worst, n.nameFailures)
	}
	if now.Before(ipE.lockedUntil) || (!trusted && now.Before(nameE.lockedUntil)) {
		worst = max(worst, l.keep) // the longest delay while locked out
	}
	n.delay = l.delay(worst)
	return n
}

// delay is the wait before answering the n-th failure in the window.
func (l *Limited) delay(n int) time.Duration {
	d := l.opts.Delay
	for i := l.opts.FreeFailures; i < n && d < l.opts.MaxDelay; i++ {
		d *= 2
	}
	return min(d, l.opts.MaxDelay)
}

// fail records a failure at now and reports whether it started a lockout:
// threshold failures (0: never) within window, none in force yet.
func (e *limitEntry) fail(now time.Time, keep, threshold int, window, lockout time.Duration) bool {
	if len(e.failures) >= keep {
		copy(e.failures, e.failures[1:])
		e.failures = e.failures[:keep-1]
	}
	e.failures = append(e.failures, now)
	if threshold > 0 && !now.Before(e.lockedUntil) && e.count(now, window) >= threshold {
		e.lockedUntil = now.Add(lockout)
		return true
	}
	return false
}

// expire ends a lockout whose time is up, together with the failures
// that caused it: the client or name starts afresh.
func (e *limitEntry) expire(now time.Time) {
	if !e.lockedUntil.IsZero() && !now.Before(e.lockedUntil) {
		e.failures = e.failures[:0]
		e.lockedUntil = time.Time{}
	}
}

// count is the number of failures within window before now.
func (e *limitEntry) count(now time.Time, window time.Duration) int {
	cut := now.Add(-window)
	n := 0
	for i := len(e.failures) - 1; i >= 0 && e.failures[i].After(cut); i-- {
		n++
	}
	return n
}

// idle reports whether the entry holds nothing worth keeping at now.
func (e *limitEntry) idle(now time.Time, window time.Duration) bool {
	return e.pending == 0 && !now.Before(e.lockedUntil) && e.count(now, window) == 0
}

// trust records a successful login of name from block.
func (l *Limited) trust(name string, block netip.Prefix, now time.Time) {
	k := trustKey{name, block}
	if _, ok := l.trusted[k]; ok || l.room(len(l.trusted)) {
		l.trusted[k] = now
	}
}

func (l *Limited) isTrusted(name string, block netip.Prefix, now time.Time) bool {
	t, ok := l.trusted[trustKey{name, block}]
	return ok && block.IsValid() && now.Sub(t) < l.opts.TrustedFor
}

// maybeSweep drops idle entries once a minute, or sooner when a table is
// full (at most once a second then).
func (l *Limited) maybeSweep(now time.Time) {
	since := now.Sub(l.lastSweep)
	full := len(l.ips) >= l.opts.MaxEntries || len(l.names) >= l.opts.MaxEntries || len(l.trusted) >= l.opts.MaxEntries
	if since < sweepInterval && !(full && since >= time.Second) {
		return
	}
	l.lastSweep = now
	for k, e := range l.ips {
		if e.idle(now, l.opts.Window) {
			delete(l.ips, k)
		}
	}
	for k, e := range l.names {
		if e.idle(now, l.opts.Window) {
			delete(l.names, k)
		}
	}
	for k, t := range l.trusted {
		if now.Sub(t) >= l.opts.TrustedFor {
			delete(l.trusted, k)
		}
	}
	if len(l.ips) < l.opts.MaxEntries && len(l.names) < l.opts.MaxEntries && len(l.trusted) < l.opts.MaxEntries {
		l.fullNoted = false
	}
}

// logFailure writes the one line a failure gets. ip comes first, so that
// a fail2ban pattern anchored on the message cannot be misled by the login
// name, which the client chose (the handler quotes it).
func (l *Limited) logFailure(cl Client, login string, n failureNote) {
	ip := "unknown"
	if cl.IP.IsValid() {
		ip = cl.IP.String()
	}
	attrs := []any{
		"ip", ip,
		"service", cl.Service,
		"user", truncate(login, maxLoggedLoginLength),
		"ip_failures", n.ipFailures,
		"user_failures", n.nameFailures,
		"delay", n.delay,
	}
	switch {
	case n.exempt:
		attrs = append(attrs, "exempt", true)
	case n.locked != "":
		attrs = append(attrs, "locked_out", n.locked)
	case n.started != "":
		attrs = append(attrs, "lockout_started", n.started, "lockout", l.opts.LockoutTime)
	}
	l.opts.Logger.Warn("auth failure", attrs...)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
