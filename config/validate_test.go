package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidConfigPasses(t *testing.T) {
	c := validConfig(t)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// The probe leaves nothing behind.
	entries, err := os.ReadDir(c.DataDir)
	if err != nil || len(entries) != 0 {
		t.Fatalf("data_dir after Validate: %v, %v", entries, err)
	}
}

// Each broken field gives its own exact message, and nothing else.
func TestValidateMessages(t *testing.T) {
	dir := t.TempDir()
	cert, key := certPair(t, dir, "a-")
	_, otherKey := certPair(t, dir, "b-")
	notPEM := writeFile(t, dir, "junk.pem", "not a certificate\n")
	aFile := writeFile(t, dir, "plainfile", "x")

	tests := []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"hostname empty", func(c *Config) { c.Hostname = "" },
			[]string{`hostname: must be set to this server's public name, like "mail.example.org"`}},
		{"hostname bad", func(c *Config) { c.Hostname = "mail example.org" },
			[]string{`hostname: "mail example.org" is not a valid host name (letters, digits, hyphens and dots, like "mail.example.org")`}},
		{"domains empty", func(c *Config) { c.Domains = nil },
			[]string{`domains: list at least one local domain, like domains = ["example.org"]`}},
		{"domain bad", func(c *Config) { c.Domains = []string{"example.org", "exa_mple.org", "192.0.2.1"} },
			[]string{
				`domains: "exa_mple.org" is not a valid domain name (letters, digits, hyphens and dots, like "example.org")`,
				`domains: "192.0.2.1" is not a valid domain name (letters, digits, hyphens and dots, like "example.org")`,
			}},
		{"domain twice", func(c *Config) { c.Domains = []string{"example.org", "Example.ORG"} },
			[]string{`domains: "Example.ORG" is listed twice`}},
		{"data_dir empty", func(c *Config) { c.DataDir = "" },
			[]string{`data_dir: must be set, like "/var/lib/mailsuite"`}},
		{"data_dir under a file", func(c *Config) { c.DataDir = filepath.Join(aFile, "sub") },
			[]string{`data_dir: cannot create "` + filepath.Join(aFile, "sub") + `": not a directory`}},
		{"data_dir is a file", func(c *Config) { c.DataDir = aFile },
			[]string{`data_dir: "` + aFile + `" exists and is not a directory`}},
		{"delimiter empty", func(c *Config) { c.RecipientDelimiter = "" },
			[]string{"recipient_delimiter: \"\" is not a recipient delimiter; use one of the characters !#$%&'*+-/=?^_`{|}~, usually \"+\""}},
		{"delimiter dot", func(c *Config) { c.RecipientDelimiter = "." },
			[]string{"recipient_delimiter: \".\" is not a recipient delimiter; use one of the characters !#$%&'*+-/=?^_`{|}~, usually \"+\""}},
		{"listen no port", func(c *Config) { c.Listen.IMAP = "0.0.0.0" },
			[]string{`listen.imap: "0.0.0.0" is not host:port; write it like "0.0.0.0:143" or "[::]:143"`}},
		{"listen ipv6 without brackets", func(c *Config) { c.Listen.POP3S = "::1:995" },
			[]string{`listen.pop3s: "::1:995" is not host:port; write it like "0.0.0.0:995" or "[::]:995"`}},
		{"listen port name", func(c *Config) { c.Listen.IMAP = "0.0.0.0:imap" },
			[]string{`listen.imap: port "imap" must be a number from 1 to 65535`}},
		{"listen port zero", func(c *Config) { c.Listen.IMAP = "0.0.0.0:0" },
			[]string{`listen.imap: port "0" must be a number from 1 to 65535`}},
		{"listen port too big", func(c *Config) { c.Listen.IMAP = ":65536" },
			[]string{`listen.imap: port "65536" must be a number from 1 to 65535`}},
		{"listen port signed", func(c *Config) { c.Listen.IMAP = ":+143" },
			[]string{`listen.imap: port "+143" must be a number from 1 to 65535`}},
		{"listen host name", func(c *Config) { c.Listen.IMAP = "mail.example.org:143" },
			[]string{`listen.imap: host "mail.example.org" must be empty, an IP address or "localhost"`}},
		{"listen same address", func(c *Config) { c.Listen.Submissions = ":587" },
			[]string{`listen.submissions: ":587" is also used by listen.submission`}},
		{"listen wildcard overlap", func(c *Config) { c.Listen.IMAP = "127.0.0.1:25" },
			[]string{`listen.imap: "127.0.0.1:25" overlaps listen.smtp ("0.0.0.0:25"): each service needs its own port`}},
		{"listen localhost overlap", func(c *Config) { c.Listen.POP3S = "LOCALHOST:110" },
			[]string{`listen.pop3s: "LOCALHOST:110" overlaps listen.pop3 ("127.0.0.1:110"): each service needs its own port`}},
		{"cert without key", func(c *Config) { c.TLS.CertFile = cert },
			[]string{`tls.key_file: must be set too when cert_file is set (or leave both empty for a self-signed certificate)`}},
		{"key without cert", func(c *Config) { c.TLS.KeyFile = key },
			[]string{`tls.cert_file: must be set too when key_file is set (or leave both empty for a self-signed certificate)`}},
		{"cert missing", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = filepath.Join(dir, "nope.pem"), key },
			[]string{`tls.cert_file: cannot read "` + filepath.Join(dir, "nope.pem") + `": no such file or directory`}},
		{"key is a directory", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = cert, dir },
			[]string{`tls.key_file: cannot read "` + dir + `": is a directory`}},
		{"cert not PEM", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = notPEM, key },
			[]string{`tls.cert_file: cannot be used with key_file: failed to find any PEM data in certificate input`}},
		{"key does not match", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = cert, otherKey },
			[]string{`tls.cert_file: cannot be used with key_file: private key does not match public key`}},
		{"negative limits", func(c *Config) {
			c.Limits = Limits{MaxMessageSize: -1, MaxRecipients: -1, MaxLineLength: -1, MaxConnections: -1, MaxConnectionsPerIP: -1}
		}, []string{
			"limits.max_message_size: must not be negative (0 means the default)",
			"limits.max_recipients: must not be negative (0 means the default)",
			"limits.max_line_length: must not be negative (0 means the default)",
			"limits.max_connections: must not be negative (0 means the default)",
			"limits.max_connections_per_ip: must not be negative (0 means the default)",
		}},
		{"short lines", func(c *Config) { c.Limits.MaxLineLength = 999 },
			[]string{"limits.max_line_length: must be at least 1000 (RFC 5321 §4.5.3.1.6)"}},
		{"negative timeout", func(c *Config) { c.Timeouts.POP3 = Duration{Duration: -time.Second} },
			[]string{"timeouts.pop3: must not be negative"}},
		{"bad log level", func(c *Config) { c.Log.Level = "verbose" },
			[]string{`log.level: "verbose" is not one of debug, info, warn, error`}},
		{"bad log format", func(c *Config) { c.Log.Format = "xml" },
			[]string{`log.format: "xml" is not one of text, json`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.change(c)
			got := problemStrings(t, c.Validate())
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	// A valid pair passes.
	c := validConfig(t)
	c.TLS.CertFile, c.TLS.KeyFile = cert, key
	if err := c.Validate(); err != nil {
		t.Errorf("valid certificate pair: %v", err)
	}
}

// Every problem is reported at once, in a fixed order.
func TestValidateReportsAll(t *testing.T) {
	c := validConfig(t)
	c.Hostname = ""
	c.Domains = nil
	c.Listen.IMAP = "nonsense"
	c.Limits.MaxRecipients = -5
	c.Log.Format = "yaml"
	want := []string{
		`hostname: must be set to this server's public name, like "mail.example.org"`,
		`domains: list at least one local domain, like domains = ["example.org"]`,
		`listen.imap: "nonsense" is not host:port; write it like "0.0.0.0:143" or "[::]:143"`,
		"limits.max_recipients: must not be negative (0 means the default)",
		`log.format: "yaml" is not one of text, json`,
	}
	if got := problemStrings(t, c.Validate()); !slices.Equal(got, want) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidateTLSNotRegular(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	c := validConfig(t)
	cert, _ := certPair(t, t.TempDir(), "")
	c.TLS.CertFile, c.TLS.KeyFile = cert, "/dev/zero"
	want := []string{`tls.key_file: cannot read "/dev/zero": not a regular file`}
	if got := problemStrings(t, c.Validate()); !slices.Equal(got, want) {
		t.Fatalf("problems %q", got)
	}
}
