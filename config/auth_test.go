package config

import (
	"net/netip"
	"os/user"
	"slices"
	"strings"
	"testing"
	"time"
)

// The [auth] limiter keys: defaults, zero where it means none or never,
// and every bad value reported with its key and line.
func TestAuthLimiterKeys(t *testing.T) {
	dir := t.TempDir()
	base := "hostname = \"mail.example.org\"\ndomains = [\"example.org\"]\ndata_dir = \"data\"\n"

	c, err := Load(writeFile(t, dir, "defaults.toml", base))
	if err != nil {
		t.Fatal(err)
	}
	want := Auth{
		FailureWindow:          Duration{Duration: 15 * time.Minute},
		FailureDelay:           Duration{Duration: time.Second},
		MaxFailureDelay:        Duration{Duration: 15 * time.Second},
		LockoutIPFailures:      10,
		LockoutAccountFailures: 30,
		LockoutTime:            Duration{Duration: 15 * time.Minute},
	}
	if !c.Auth.Equal(want) {
		t.Errorf("defaults: %+v, want %+v", c.Auth, want)
	}

	c, err = Load(writeFile(t, dir, "zero.toml", base+`[auth]
failure_delay = "0s"
max_failure_delay = "0s"
lockout_ip_failures = 0
lockout_account_failures = 0
exempt = ["127.0.0.1", "10.0.0.0/8", "2001:db8::/32", "::ffff:192.0.2.1", "::ffff:198.51.100.0/120"]
`))
	if err != nil {
		t.Fatalf("zero delays and counts: %v", err)
	}
	if c.Auth.FailureDelay.Duration != 0 || c.Auth.MaxFailureDelay.Duration != 0 || c.Auth.LockoutIPFailures != 0 {
		t.Errorf("zero values replaced by defaults: %+v", c.Auth)
	}
	gotPrefixes := c.Auth.ExemptPrefixes()
	wantPrefixes := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("198.51.100.0/24"),
	}
	if !slices.Equal(gotPrefixes, wantPrefixes) {
		t.Errorf("exempt: %v, want %v", gotPrefixes, wantPrefixes)
	}

	path := writeFile(t, dir, "bad.toml", base+`[auth]
failure_window = "0s"
failure_delay = "2s"
max_failure_delay = "1s"
lockout_ip_failures = -1
lockout_account_failures = -2
lockout_time = "soon"
exempt = ["10.0.0.0/33", "mail.example.org"]
`)
	_, err = Load(path)
	got := problemStrings(t, err)
	wantLines := []string{
		path + `:5: auth.failure_window: must be longer than "0s"`,
		path + `:10: auth.lockout_time: "soon" is not a duration; write it with a unit, like "90s", "5m" or "1h"`,
		path + `:7: auth.max_failure_delay: must be at least failure_delay (2s)`,
		path + `:8: auth.lockout_ip_failures: must not be negative (0 means never)`,
		path + `:9: auth.lockout_account_failures: must not be negative (0 means never)`,
		path + `:11: auth.exempt: "10.0.0.0/33" is not an IP address or a CIDR block like "192.0.2.0/24"`,
		path + `:11: auth.exempt: "mail.example.org" is not an IP address or a CIDR block like "192.0.2.0/24"`,
	}
	if !slices.Equal(got, wantLines) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantLines, "\n"))
	}
}

// [server] user must exist and not be root.
func TestServerUser(t *testing.T) {
	c := validConfig(t)
	c.Server.User = "no-such-user-mailsuite-test"
	got := problemStrings(t, c.Validate())
	if len(got) != 1 || !strings.Contains(got[0], `server.user: "no-such-user-mailsuite-test" is not a user on this system`) {
		t.Errorf("unknown user: %q", got)
	}
	if root, err := user.LookupId("0"); err == nil {
		c.Server.User = root.Username
		got = problemStrings(t, c.Validate())
		if len(got) != 1 || !strings.Contains(got[0], "is the superuser") {
			t.Errorf("root: %q", got)
		}
	}
	if _, err := user.Lookup("nobody"); err == nil {
		c.Server.User = "nobody"
		if err := c.Validate(); err != nil {
			t.Errorf("nobody: %v", err)
		}
	}
}

// LoopbackOnly is what lets root run without [server] user.
func TestLoopbackOnly(t *testing.T) {
	if !Dev().LoopbackOnly() {
		t.Error("the development defaults are not loopback-only")
	}
	for _, tt := range []struct {
		listen Listen
		want   bool
	}{
		{Listen{SMTP: "127.0.0.1:25", IMAP: "[::1]:143", POP3: "localhost:110"}, true},
		{Listen{SMTP: "127.0.0.2:25"}, true},
		{Listen{SMTP: "127.0.0.1:25", IMAP: "0.0.0.0:143"}, false},
		{Listen{SMTP: ":25"}, false},
		{Listen{SMTP: "192.0.2.1:25"}, false},
		{Listen{}, false},
	} {
		c := Default()
		c.Listen = tt.listen
		if got := c.LoopbackOnly(); got != tt.want {
			t.Errorf("%+v: LoopbackOnly %v, want %v", tt.listen, got, tt.want)
		}
	}
}
