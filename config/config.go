// Package config owns mailsuite's TOML configuration: the schema, the
// production and development defaults, strict loading (an unknown key is an
// error, never ignored), validation that reports every problem at once with
// its key and file:line, and where the file is found (Resolve).
//
// It reads the config file and the TLS files and, in Validate, asks
// whether data_dir could be created and written; it writes nothing,
// creates nothing and starts nothing. Reload is Load again: the caller
// decides what a new Config changes.
package config

import (
	"log/slog"
	"path/filepath"
	"time"
)

// Config is the whole configuration. The zero value is not useful: start
// from Default, Dev or Load.
type Config struct {
	// Hostname is this server's public name: SMTP banners, HELO,
	// Received headers, the self-signed certificate.
	Hostname string `toml:"hostname"`
	// Domains are the local domains: mail for them is delivered here.
	Domains []string `toml:"domains"`
	// DataDir holds the Maildirs, users.db and generated keys.
	DataDir string `toml:"data_dir"`
	// RecipientDelimiter separates a subaddress: alice+tag@ reaches alice.
	RecipientDelimiter string `toml:"recipient_delimiter"`

	Listen   Listen   `toml:"listen"`
	TLS      TLS      `toml:"tls"`
	Auth     Auth     `toml:"auth"` // auth.go
	Limits   Limits   `toml:"limits"`
	Timeouts Timeouts `toml:"timeouts"`
	Log      Log      `toml:"log"`
	Outbound Outbound `toml:"outbound"` // outbound.go
	Server   Server   `toml:"server"`   // server.go

	// Path is the absolute path of the file this came from; "" for
	// built-in defaults.
	Path string `toml:"-"`

	// lines maps a dotted key to its line in Path, for messages.
	lines map[string]int
}

// Listen holds one address per service, "host:port"; empty is off.
type Listen struct {
	SMTP        string `toml:"smtp"`        // inbound MX, STARTTLS, no AUTH
	Submission  string `toml:"submission"`  // STARTTLS, AUTH required
	Submissions string `toml:"submissions"` // implicit TLS, AUTH required
	IMAP        string `toml:"imap"`        // STARTTLS
	IMAPS       string `toml:"imaps"`       // implicit TLS
	POP3        string `toml:"pop3"`        // STLS
	POP3S       string `toml:"pop3s"`       // implicit TLS
}

// TLS names the certificate. Both empty: a self-signed certificate is made
// in DataDir on first start.
type TLS struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
}

// SelfSigned reports whether no certificate files are configured.
func (t TLS) SelfSigned() bool { return t.CertFile == "" && t.KeyFile == "" }

// Limits bound what one client may ask of the server. In a file, 0 means
// the default; a negative value is an error.
type Limits struct {
	MaxMessageSize      int64 `toml:"max_message_size"`       // bytes
	MaxRecipients       int   `toml:"max_recipients"`         // per message
	MaxLineLength       int   `toml:"max_line_length"`        // bytes, with CRLF
	MaxConnections      int   `toml:"max_connections"`        // all listeners together
	MaxConnectionsPerIP int   `toml:"max_connections_per_ip"` // all listeners together
}

// Timeouts are idle limits per protocol. In a file, "0s" means the
// default; there is no way to turn one off.
type Timeouts struct {
	SMTP     Duration `toml:"smtp"`
	IMAPIdle Duration `toml:"imap_idle"`
	POP3     Duration `toml:"pop3"`
}

// Log configures the server's log on standard error.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text, json
	// DebugProtocol copies raw protocol traffic to the log. It may show
	// passwords (AUTH PLAIN is only base64) and message contents.
	DebugProtocol bool `toml:"debug_protocol"`
}

// Defaults, shared by Default and Dev and filled in for zero values.
const (
	DefaultMaxMessageSize = 32 << 20 // 32 MiB
	DefaultMaxRecipients  = 100
	// RFC 7162 §4 asks that IMAP servers accept command lines of at
	// least 8192 octets; SMTP (RFC 5321 §4.5.3.1.4-6: 512 and 1000) and
	// POP3 (RFC 2449 §4: 255) need less.
	DefaultMaxLineLength       = 8192
	DefaultMaxConnections      = 1000
	DefaultMaxConnectionsPerIP = 50
	// RFC 5321 §4.5.3.2.7: a server SHOULD wait at least 5 minutes for
	// the next command.
	DefaultSMTPTimeout = 5 * time.Minute
	// RFC 9051 §5.4: an inactivity autologout timer MUST be at least 30
	// minutes (RFC 2177 §3 has clients re-issue IDLE within 29).
	DefaultIMAPIdleTimeout = 30 * time.Minute
	// RFC 1939 §3: the POP3 autologout timer MUST be at least 10 minutes.
	DefaultPOP3Timeout = 10 * time.Minute
)

// Default returns the production defaults: every listener off, data in
// /var/lib/mailsuite, no hostname or domains (a config file must set them).
func Default() *Config {
	return &Config{
		DataDir:            "/var/lib/mailsuite",
		RecipientDelimiter: "+",
		Limits: Limits{
			MaxMessageSize:      DefaultMaxMessageSize,
			MaxRecipients:       DefaultMaxRecipients,
			MaxLineLength:       DefaultMaxLineLength,
			MaxConnections:      DefaultMaxConnections,
			MaxConnectionsPerIP: DefaultMaxConnectionsPerIP,
		},
		Timeouts: Timeouts{
			SMTP:     Duration{Duration: DefaultSMTPTimeout},
			IMAPIdle: Duration{Duration: DefaultIMAPIdleTimeout},
			POP3:     Duration{Duration: DefaultPOP3Timeout},
		},
		Auth:     defaultAuth(),
		Log:      Log{Level: "info", Format: "text"},
		Outbound: defaultOutbound(),
	}
}

// Dev returns the development defaults used when there is no config file:
// data in ./data, hostname and the one domain "localhost", every service
// on a loopback address and an unprivileged port.
func Dev() *Config {
	c := Default()
	c.Hostname = "localhost"
	c.Domains = []string{"localhost"}
	c.DataDir = "./data"
	c.Listen = Listen{
		SMTP:        "127.0.0.1:2525",
		Submission:  "127.0.0.1:2587",
		Submissions: "127.0.0.1:2465",
		IMAP:        "127.0.0.1:2143",
		IMAPS:       "127.0.0.1:2993",
		POP3:        "127.0.0.1:2110",
		POP3S:       "127.0.0.1:2995",
	}
	return c
}

// UsersFile is where the users database lives: DataDir/users.db.
func (c *Config) UsersFile() string { return filepath.Join(c.DataDir, "users.db") }

// fillZeroes replaces zero limits and timeouts by their defaults ("0
// means the default").
func (c *Config) fillZeroes() {
	d := Default()
	if c.Limits.MaxMessageSize == 0 {
		c.Limits.MaxMessageSize = d.Limits.MaxMessageSize
	}
	if c.Limits.MaxRecipients == 0 {
		c.Limits.MaxRecipients = d.Limits.MaxRecipients
	}
	if c.Limits.MaxLineLength == 0 {
		c.Limits.MaxLineLength = d.Limits.MaxLineLength
	}
	if c.Limits.MaxConnections == 0 {
		c.Limits.MaxConnections = d.Limits.MaxConnections
	}
	if c.Limits.MaxConnectionsPerIP == 0 {
		c.Limits.MaxConnectionsPerIP = d.Limits.MaxConnectionsPerIP
	}
	for _, p := range []struct{ got, def *Duration }{
		{&c.Timeouts.SMTP, &d.Timeouts.SMTP},
		{&c.Timeouts.IMAPIdle, &d.Timeouts.IMAPIdle},
		{&c.Timeouts.POP3, &d.Timeouts.POP3},
	} {
		if p.got.Duration == 0 && !p.got.invalid {
			*p.got = *p.def
		}
	}
	c.Outbound.fillZeroes()
}

// LogValue renders the effective configuration for the start-up log line
// (it holds no secret).
func (c *Config) LogValue() slog.Value {
	src := c.Path
	if src == "" {
		src = "development defaults"
	}
	tls := "self-signed in data_dir"
	if !c.TLS.SelfSigned() {
		tls = c.TLS.CertFile
	}
	var listen []slog.Attr
	for _, l := range c.Listeners() {
		listen = append(listen, slog.String(l.Name, l.Address+" "+l.Security))
	}
	return slog.GroupValue(
		slog.String("source", src),
		slog.String("hostname", c.Hostname),
		slog.Any("domains", c.Domains),
		slog.String("data_dir", c.DataDir),
		slog.String("recipient_delimiter", c.RecipientDelimiter),
		slog.Attr{Key: "listen", Value: slog.GroupValue(listen...)},
		slog.String("tls", tls),
		slog.Attr{Key: "auth", Value: c.Auth.logValue()},
		slog.String("server_user", c.Server.User),
		slog.Group("limits",
			slog.Int64("max_message_size", c.Limits.MaxMessageSize),
			slog.Int("max_recipients", c.Limits.MaxRecipients),
			slog.Int("max_line_length", c.Limits.MaxLineLength),
			slog.Int("max_connections", c.Limits.MaxConnections),
			slog.Int("max_connections_per_ip", c.Limits.MaxConnectionsPerIP)),
		slog.Group("timeouts",
			slog.Duration("smtp", c.Timeouts.SMTP.Duration),
			slog.Duration("imap_idle", c.Timeouts.IMAPIdle.Duration),
			slog.Duration("pop3", c.Timeouts.POP3.Duration)),
		slog.Group("log",
			slog.String("level", c.Log.Level),
			slog.String("format", c.Log.Format),
			slog.Bool("debug_protocol", c.Log.DebugProtocol)),
		slog.Attr{Key: "outbound", Value: c.Outbound.logValue()},
	)
}
