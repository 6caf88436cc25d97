package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The example shows [outbound] at its defaults, and those are the issue's.
func TestOutboundDefaults(t *testing.T) {
	c, err := Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if !c.Outbound.Equal(d.Outbound) {
		t.Errorf("the example's [outbound] differs from Default():\n%+v\n%+v", c.Outbound, d.Outbound)
	}
	o := d.Outbound
	if o.RetryMin.Duration != 5*time.Minute || o.RetryMax.Duration != 4*time.Hour || o.Lifetime.Duration != 120*time.Hour ||
		o.DelayWarning.Duration != 4*time.Hour || o.SmarthostTLS != "starttls" || o.CopyToSent || o.Smarthost != "" {
		t.Errorf("defaults %+v", o)
	}
}

// Routes are a table of free-form keys; "0s" turns the delay warning off
// but means the default elsewhere; the password file path is relative to
// the config file.
func TestOutboundLoad(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "relay.pw", "s3cret\nignored\n")
	path := writeFile(t, dir, "m.toml", `hostname = "mail.example.org"
domains = ["example.org"]
data_dir = "data"
[outbound]
smarthost = "smtp.provider.example:587"
smarthost_user = "me@example.org"
smarthost_password_file = "relay.pw"
retry_min = "0s"
delay_warning = "0s"
copy_to_sent = true
[outbound.routes]
"Example.NET" = "192.0.2.10:25"
"corp.example" = "[2001:db8::1]:2525"
`)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	o := c.Outbound
	if o.RetryMin.Duration != DefaultRetryMin || o.DelayWarning.Duration != 0 || !o.CopyToSent ||
		o.Routes["Example.NET"] != "192.0.2.10:25" || o.Routes["corp.example"] != "[2001:db8::1]:2525" ||
		o.SmarthostPasswordFile != dir+"/relay.pw" {
		t.Errorf("loaded %+v", o)
	}
	if pw, err := ReadPassword(o.SmarthostPasswordFile); pw != "s3cret" || err != nil {
		t.Errorf("password %q %v", pw, err)
	}
	if !o.Equal(o) || o.Equal(Default().Outbound) {
		t.Error("Equal")
	}

	// An unknown key inside [outbound] is still an error, with its line.
	bad := writeFile(t, dir, "bad.toml", `hostname = "mail.example.org"
domains = ["example.org"]
[outbound]
smarthost_port = 25
`)
	_, err = Load(bad)
	want := bad + `:4: outbound.smarthost_port: unknown key (known keys in [outbound]: smarthost, smarthost_tls, smarthost_user, smarthost_password_file, routes, max_connections, max_connections_per_domain, retry_min, retry_max, lifetime, delay_warning, copy_to_sent)`
	if got := problemStrings(t, err); !slices.Equal(got, []string{want}) {
		t.Errorf("problems:\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
}

// Each mistake in [outbound] gives its own message.
func TestOutboundValidate(t *testing.T) {
	dir := t.TempDir()
	pw := writeFile(t, dir, "pw", "secret\n")
	empty := writeFile(t, dir, "empty", "\n")
	for _, tc := range []struct {
		name   string
		change func(o *Outbound)
		want   []string
	}{
		{"smarthost without port", func(o *Outbound) { o.Smarthost = "smtp.example.net" },
			[]string{`outbound.smarthost: "smtp.example.net" is not host:port; write it like "smtp.example.net:587" or "[2001:db8::1]:25"`}},
		{"smarthost bad port", func(o *Outbound) { o.Smarthost = "smtp.example.net:submission" },
			[]string{`outbound.smarthost: port "submission" must be a number from 1 to 65535`}},
		{"smarthost bad host", func(o *Outbound) { o.Smarthost = "smtp_example:25" },
			[]string{`outbound.smarthost: host "smtp_example" is neither an IP address nor a host name`}},
		{"tls mode", func(o *Outbound) { o.SmarthostTLS = "ssl" },
			[]string{`outbound.smarthost_tls: "ssl" is not one of starttls, implicit, none`}},
		{"user without password", func(o *Outbound) { o.Smarthost, o.SmarthostUser = "relay.example:587", "me" },
			[]string{"outbound.smarthost_user: smarthost_user and smarthost_password_file go together: set both or neither"}},
		{"credentials without smarthost", func(o *Outbound) { o.SmarthostUser, o.SmarthostPasswordFile = "me", pw },
			[]string{"outbound.smarthost_user: credentials are only used with a smarthost; set outbound.smarthost too"}},
		{"password file missing", func(o *Outbound) {
			o.Smarthost, o.SmarthostUser, o.SmarthostPasswordFile = "relay.example:587", "me", dir+"/nope"
		}, []string{`outbound.smarthost_password_file: cannot read "` + dir + `/nope": no such file or directory`}},
		{"password file empty", func(o *Outbound) {
			o.Smarthost, o.SmarthostUser, o.SmarthostPasswordFile = "relay.example:587", "me", empty
		}, []string{`outbound.smarthost_password_file: "` + empty + `" holds no password on its first line`}},
		{"password in the clear", func(o *Outbound) {
			o.Smarthost, o.SmarthostUser, o.SmarthostPasswordFile, o.SmarthostTLS = "relay.example:25", "me", pw, "none"
		}, []string{`outbound.smarthost_tls: "none" would send the smarthost password in the clear; use starttls or implicit (none is allowed with credentials only for a loopback address)`}},
		{"route to a bad domain and address", func(o *Outbound) { o.Routes = map[string]string{"bad_domain": "x"} },
			[]string{
				`outbound.routes.bad_domain: "bad_domain" is not a domain name`,
				`outbound.routes.bad_domain: "x" is not host:port; write it like "smtp.example.net:587" or "[2001:db8::1]:25"`,
			}},
		{"route for a local domain", func(o *Outbound) { o.Routes = map[string]string{"Example.ORG": "10.0.0.1:25"} },
			[]string{"outbound.routes.Example.ORG: Example.ORG is one of this server's domains; its mail is delivered here, never routed"}},
		{"negative limits", func(o *Outbound) { o.MaxConnections, o.MaxConnectionsPerDomain = -1, -2 },
			[]string{
				"outbound.max_connections: must not be negative (0 means the default)",
				"outbound.max_connections_per_domain: must not be negative (0 means the default)",
			}},
		{"negative duration", func(o *Outbound) { o.DelayWarning = Duration{Duration: -time.Hour} },
			[]string{"outbound.delay_warning: must not be negative"}},
		{"retry_max below retry_min", func(o *Outbound) { o.RetryMax = Duration{Duration: time.Minute} },
			[]string{"outbound.retry_max: 1m0s is shorter than retry_min (5m0s)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			tc.change(&c.Outbound)
			if got := problemStrings(t, c.Validate()); !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	// Loopback relay without TLS may take credentials.
	c := validConfig(t)
	c.Outbound.Smarthost, c.Outbound.SmarthostUser, c.Outbound.SmarthostPasswordFile, c.Outbound.SmarthostTLS = "127.0.0.1:25", "me", pw, "none"
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}
