package users

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock the tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// limitFixture is a real FileDB with alice, behind a Limited with a fake
// clock and no delays unless the test sets them.
type limitFixture struct {
	t     *testing.T
	db    *FileDB
	lim   *Limited
	clock *fakeClock
	logs  *logBuf
}

func newLimitFixture(t *testing.T, opts LimitOptions) *limitFixture {
	t.Helper()
	db, _ := openTestDB(t)
	mustAddUser(t, db, "alice@example.org", "alice-password")
	mustAddUser(t, db, "bob@example.org", "bob-password")
	f := &limitFixture{t: t, db: db, clock: &fakeClock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}, logs: &logBuf{}}
	opts.Now = f.clock.Now
	opts.Logger = logger(f.logs)
	f.lim = NewLimited(db, opts)
	return f
}

// login tries a login from ip ("" for no client on the context).
func (f *limitFixture) login(ip, user, pass string) (string, error) {
	f.t.Helper()
	ctx := context.Background()
	if ip != "" {
		ctx = WithClient(ctx, &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}, "imap")
	}
	return f.lim.Authenticate(ctx, user, pass)
}

// mustFail asserts the exact error of a wrong password.
func (f *limitFixture) mustFail(ip, user, pass string) {
	f.t.Helper()
	got, err := f.login(ip, user, pass)
	if err != ErrAuthFailed || got != "" {
		f.t.Fatalf("login %s from %s: (%q, %v), want exactly ErrAuthFailed", user, ip, got, err)
	}
}

func (f *limitFixture) mustSucceed(ip, user, pass string) {
	f.t.Helper()
	got, err := f.login(ip, user, pass)
	if err != nil || got != strings.ToLower(user) {
		f.t.Fatalf("login %s from %s: (%q, %v), want success", user, ip, got, err)
	}
}

// lines returns the "auth failure" log lines.
func (f *limitFixture) lines() []string {
	var out []string
	for _, l := range strings.Split(f.logs.String(), "\n") {
		if strings.Contains(l, `msg="auth failure"`) {
			out = append(out, l)
		}
	}
	return out
}

func (f *limitFixture) lastLine() string {
	f.t.Helper()
	ls := f.lines()
	if len(ls) == 0 {
		f.t.Fatal("no auth failure line logged")
	}
	return ls[len(ls)-1]
}

// The delay doubles after the free failures and stops at the cap; the log
// line says which delay was applied.
func TestLimiterDelayDoubles(t *testing.T) {
	f := newLimitFixture(t, LimitOptions{Delay: time.Microsecond, FreeFailures: 2, MaxDelay: 8 * time.Microsecond})
	want := []string{"1µs", "1µs", "2µs", "4µs", "8µs", "8µs"}
	for i, w := range want {
		f.mustFail("192.0.2.1", "alice@example.org", "wrong")
		if l := f.lastLine(); !strings.Contains(l, " delay="+w) {
			t.Errorf("failure %d: %s, want delay=%s", i+1, l, w)
		}
	}
	// A right password is not delayed and still works (no lockout set).
	f.mustSucceed("192.0.2.1", "alice@example.org", "alice-password")
	if n := len(f.lines()); n != len(want) {
		t.Errorf("%d failure lines, want %d (one per failure, none for the success)", n, len(want))
	}
}

// One line per failure, ip first, the login tried, never the password;
// a client-chosen name cannot forge the ip field or a new line.
func TestLimiterLogLine(t *testing.T) {
	f := newLimitFixture(t, LimitOptions{})
	f.mustFail("203.0.113.9", "Alice@Example.org", "s3cret-guess")
	f.mustFail("203.0.113.9", "nobody@example.org", "s3cret-guess")
	f.mustFail("2001:db8::7", "x ip=198.51.100.1\nmsg=\"auth failure\" ip=198.51.100.2", "s3cret-guess")
	lines := f.lines()
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), f.logs.String())
	}
	re := regexp.MustCompile(`level=WARN msg="auth failure" ip=(\S+) service=imap user=`)
	wantIP := []string{"203.0.113.9", "203.0.113.9", "2001:db8::7"}
	for i, l := range lines {
		m := re.FindStringSubmatch(l)
		if m == nil || m[1] != wantIP[i] {
			t.Errorf("line %d: %s\nwant ip=%s first", i, l, wantIP[i])
		}
	}
	if !strings.Contains(lines[0], "user=Alice@Example.org") || !strings.Contains(lines[1], "user=nobody@example.org") {
		t.Errorf("the login tried is not named:\n%s", strings.Join(lines, "\n"))
	}
	if strings.Contains(f.logs.String(), "s3cret-guess") {
		t.Error("a password reached the log")
	}
	if got := strings.Count(f.logs.String(), "\n"); got != 3 {
		t.Errorf("log has %d lines, want 3 (a name with a newline must not split a line):\n%s", got, f.logs.String())
	}
}

// An IP that fails IPLockout times is refused, right password or not, with
// the same answer as a wrong password, until the lockout ends. Other IPs
// are not affected.
func TestLimiterIPLockout(t *testing.T) {
	f := newLimitFixture(t, LimitOptions{IPLockout: 3, LockoutTime: 10 * time.Minute, Window: 5 * time.Minute})
	const attacker = "198.51.100.7"
	f.mustFail(attacker, "alice@example.org", "guess1")
	f.mustFail(attacker, "bob@example.org", "guess2")
	f.mustFail(attacker, "nobody@example.org", "guess3")
	if l := f.lastLine(); !strings.Contains(l, "lockout_started=ip") {
		t.Errorf("third failure: %s, want lockout_started=ip", l)
	}
	// The right password from the locked IP: the very same error.
	f.mustFail(attacker, "alice@example.org", "alice-password")
	if l := f.lastLine(); !strings.Contains(l, "locked_out=ip") {
		t.Errorf("refused while locked: %s, want locked_out=ip", l)
	}
	// Another IP is not locked, for the same account.
	f.mustSucceed("192.0.2.50", "alice@example.org", "alice-password")
	f.clock.Add(10*time.Minute - time.Second)
	f.mustFail(attacker, "bob@example.org", "bob-password")
	f.clock.Add(time.Second)
	f.mustSucceed(attacker, "bob@example.org", "bob-password")
}

// When a lockout ends, the failures that caused it are forgotten with it,
// even if the window is longer: the next failure does not lock again.
func TestLimiterLockoutEnds(t *testing.T) {
	f := newLimitFixture(t, LimitOptions{IPLockout: 2, AccountLockout: 10, Window: time.Hour, LockoutTime: time.Minute})
	f.mustFail("192.0.2.1", "alice@example.org", "x")
	f.mustFail("192.0.2.1", "alice@example.org", "x")
	f.mustFail("192.0.2.1", "alice@example.org", "alice-password")
	f.clock.Add(time.Minute)
	f.mustFail("192.0.2.1", "alice@example.org", "x")
	if l := f.lastLine(); !strings.Contains(l, "ip_failures=1 ") || strings.Contains(l, "lockout") {
		t.Errorf("first failure after the lockout: %s", l)
	}
	f.mustSucceed("192.0.2.1", "alice@example.org", "alice-password")
	f.mustFail("192.0.2.1", "alice@example.org", "x")
	f.mustFail("192.0.2.1", "alice@example.org", "alice-password")
}

// Failures older than the window are forgotten.
func TestLimiterWindow(t *testing.T) {
	f := newLimitFixture(t, LimitOptions{IPLockout: 3, Window: time.Minute})
	f.mustFail("192.0.2.1", "alice@example.org", "x1")
	f.mustFail("192.0.2.1", "alice@example.org", "x2")
	f.clock.Add(time.Minute)
	f.mustFail("192.0.2.1", "alice@example.org", "x3")
	f.mustFail("192.0.2.1", "alice@example.org", "x4")
	f.mustSucceed("192.0.2.1", "alice@example.org", "alice-password")
	f.mustFail("192.0.2.1", "alice@example.org", "x5")
	f.mustFail("192.0.2.1", "alice@example.org", "alice-password") // now 3 in the window
}

// Failures for one account from many IPs lock the account for new IPs,
// but not for an IP that logged in to it before; that success does not
// unlock it for the others.
func TestLimiterAccountLockout(t *testing.T) {
	f := newLimitFixture(t, LimitOptions{AccountLockout: 3, LockoutTime: time.Hour})
	const home = "192.0.2.10"
	f.mustSucceed(home, "alice@example.org", "alice-password")
	for i, ip := range []string{"198.51.100.1", "198.51.100.2", "2001:db8:1::1"} {
		f.mustFail(ip, "ALICE@example.org", "guess")
		if i == 2 && !strings.Contains(f.lastLine(), "lockout_started=account") {
			t.Errorf("third failure: %s, want lockout_started=account", f.lastLine())
		}
	}
	f.mustFail("203.0.113.1", "alice@example.org", "alice-password")
	if l := f.lastLine(); !strings.Contains(l, "locked_out=account") {
		t.Errorf("refused while locked: %s, want locked_out=account", l)
	}
	f.mustSucceed(home, "alice@example.org", "alice-password")
	f.mustFail("203.0.113.1", "alice@example.org", "alice-password")
	// Bob is not affected.
	f.mustSucceed("203.0.113.1", "bob@example.org", "bob-password")
	f.clock.Add(time.Hour)
	f.mustSucceed("203.0.113.1", "alice@example.org", "alice-password")
}

// An IPv6 client is counted by its /64.
func TestLimiterIPv6Block(t *testing.T) {
	f := newLimitFixture(t, LimitOptions{IPLockout: 2})
	f.mustFail("2001:db8:0:5::1", "alice@example.org", "x")
	f.mustFail("2001:db8:0:5::ffff", "bob@example.org", "x")
	f.mustFail("2001:db8:0:5:1:2:3:4", "alice@example.org", "alice-password")
	f.mustSucceed("2001:db8:0:6::1", "alice@example.org", "alice-password")
	// An IPv4-mapped IPv6 address is the IPv4 address.
	f.mustFail("::ffff:192.0.2.77", "alice@example.org", "x")
	f.mustFail("192.0.2.77", "alice@example.org", "x")
	f.mustFail("192.0.2.77", "alice@example.org", "alice-password")
}

// Loopback is limited like any client unless listed as exempt; an exempt
// client's failures are logged but neither slow nor lock anything.
func TestLimiterExempt(t *testing.T) {
	f := newLimitFixture(t, LimitOptions{IPLockout: 2})
	f.mustFail("127.0.0.1", "alice@example.org", "x")
	f.mustFail("127.0.0.1", "alice@example.org", "x")
	f.mustFail("127.0.0.1", "alice@example.org", "alice-password")

	g := newLimitFixture(t, LimitOptions{IPLockout: 2, AccountLockout: 2, Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	for range 5 {
		g.mustFail("127.0.0.2", "alice@example.org", "x")
	}
	g.mustSucceed("127.0.0.2", "alice@example.org", "alice-password")
	g.mustSucceed("192.0.2.1", "alice@example.org", "alice-password")
	if l := g.lastLine(); !strings.Contains(l, "exempt=true") || !strings.Contains(l, "ip=127.0.0.2") {
		t.Errorf("exempt failure line: %s", l)
	}
}

// Without a client on the context only the account limit applies.
func TestLimiterNoClient(t *testing.T) {
	f := newLimitFixture(t, LimitOptions{IPLockout: 1, AccountLockout: 2})
	f.mustFail("", "alice@example.org", "x")
	f.mustSucceed("", "alice@example.org", "alice-password") // IP limit of 1 not applied
	f.mustFail("", "alice@example.org", "x")
	f.mustFail("", "alice@example.org", "alice-password")
	if l := f.lastLine(); !strings.Contains(l, "ip=unknown") || !strings.Contains(l, "locked_out=account") {
		t.Errorf("line: %s", l)
	}
}

// blockingDB is a DB whose Authenticate waits for release and then fails,
// counting the calls that reached it.
type blockingDB struct {
	DB
	calls   atomic.Int32
	release chan struct{}
}

func (b *blockingDB) Authenticate(ctx context.Context, address, password string) (string, error) {
	b.calls.Add(1)
	<-b.release
	return "", ErrAuthFailed
}

// A client that has failed cannot get more guesses past the lockout by
// opening many connections at once: checks in flight count.
func TestLimiterParallelGuesses(t *testing.T) {
	db, _ := openTestDB(t)
	b := &blockingDB{DB: db, release: make(chan struct{})}
	lim := NewLimited(b, LimitOptions{IPLockout: 4})
	ctx := WithClient(context.Background(), &net.TCPAddr{IP: net.ParseIP("198.51.100.3")}, "imap")
	close(b.release)
	if _, err := lim.Authenticate(ctx, "alice@example.org", "x"); err != ErrAuthFailed {
		t.Fatal(err)
	}
	b.release = make(chan struct{})
	b.calls.Store(0)
	var wg sync.WaitGroup
	var returned atomic.Int32
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := lim.Authenticate(ctx, "alice@example.org", "x"); err != ErrAuthFailed {
				t.Error(err)
			}
			returned.Add(1)
		}()
	}
	// 3 checks may run (1 failure + 3 in flight = the lockout of 4); the
	// other 17 are refused without reaching the DB, while those 3 wait.
	deadline := time.Now().Add(10 * time.Second)
	for (b.calls.Load() < 3 || returned.Load() < 17) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	calls, early := b.calls.Load(), returned.Load()
	close(b.release)
	wg.Wait()
	if calls != 3 || early != 17 {
		t.Errorf("%d checks reached the database and %d were refused at once, want 3 and 17", calls, early)
	}
	if n := b.calls.Load(); n != 3 {
		t.Errorf("%d checks reached the database in all, want 3", n)
	}
}

// An error that is not a failed login (the database down, the client
// gone) is passed on and not counted.
func TestLimiterOtherErrors(t *testing.T) {
	f := newLimitFixture(t, LimitOptions{IPLockout: 1})
	ctx, cancel := context.WithCancel(WithClient(context.Background(), &net.TCPAddr{IP: net.ParseIP("192.0.2.1")}, "pop3"))
	cancel()
	if _, err := f.lim.Authenticate(ctx, "alice@example.org", "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	f.mustSucceed("192.0.2.1", "alice@example.org", "alice-password")
	if n := len(f.lines()); n != 0 {
		t.Errorf("%d failure lines for a cancelled check", n)
	}
}

// The tables stay within MaxEntries; the limiter warns once and keeps
// answering.
func TestLimiterMaxEntries(t *testing.T) {
	f := newLimitFixture(t, LimitOptions{IPLockout: 2, MaxEntries: 2})
	for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"} {
		f.mustFail(ip, ip+"@example.org", "x")
	}
	f.lim.mu.Lock()
	nIP, nName := len(f.lim.ips), len(f.lim.names)
	f.lim.mu.Unlock()
	if nIP > 2 || nName > 2 {
		t.Errorf("tables hold %d IPs and %d names, want at most 2 each", nIP, nName)
	}
	if n := strings.Count(f.logs.String(), "tracking table full"); n != 1 {
		t.Errorf("%d table-full warnings, want 1", n)
	}
	// Once the entries expire they are swept and new ones are tracked.
	f.clock.Add(time.Hour)
	f.mustFail("192.0.2.9", "alice@example.org", "x")
	f.mustFail("192.0.2.9", "alice@example.org", "x")
	f.mustFail("192.0.2.9", "alice@example.org", "alice-password")
}
