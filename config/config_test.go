package config

import (
	"bytes"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestDefault(t *testing.T) {
	d := Default()
	if len(d.Listeners()) != 0 || d.DataDir != "/var/lib/mailsuite" || d.Hostname != "" || d.Domains != nil {
		t.Errorf("Default: %+v", d)
	}
	if d.Limits.MaxMessageSize != 33554432 || d.Limits.MaxRecipients != 100 {
		t.Errorf("limits %+v", d.Limits)
	}
	if d.Timeouts.SMTP.String() != "5m0s" || d.Timeouts.IMAPIdle.String() != "30m0s" || d.Timeouts.POP3.String() != "10m0s" {
		t.Errorf("timeouts %+v", d.Timeouts)
	}
	if d.Log != (Log{Level: "info", Format: "text"}) || d.Auth.AllowPlaintext || !d.TLS.SelfSigned() {
		t.Errorf("log %+v auth %+v tls %+v", d.Log, d.Auth, d.TLS)
	}
	// Production defaults alone are not enough: hostname and domains
	// must come from a file.
	d.DataDir = t.TempDir()
	want := []string{
		`hostname: must be set to this server's public name, like "mail.example.org"`,
		`domains: list at least one local domain, like domains = ["example.org"]`,
	}
	if got := problemStrings(t, d.Validate()); !slices.Equal(got, want) {
		t.Errorf("Default().Validate():\n%s", strings.Join(got, "\n"))
	}
}

func TestDevValidates(t *testing.T) {
	t.Chdir(t.TempDir())
	c := Dev()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir("."); err != nil || len(ents) != 0 {
		t.Fatalf("Validate wrote in the working directory: %v, %v", ents, err)
	}
	want := []Listener{
		{"smtp", "127.0.0.1:2525", SecuritySTARTTLS},
		{"submission", "127.0.0.1:2587", SecuritySTARTTLS},
		{"submissions", "127.0.0.1:2465", SecurityImplicitTLS},
		{"imap", "127.0.0.1:2143", SecuritySTARTTLS},
		{"imaps", "127.0.0.1:2993", SecurityImplicitTLS},
		{"pop3", "127.0.0.1:2110", SecuritySTARTTLS},
		{"pop3s", "127.0.0.1:2995", SecurityImplicitTLS},
	}
	if got := c.Listeners(); !slices.Equal(got, want) {
		t.Errorf("Dev listeners:\n%v\nwant:\n%v", got, want)
	}
	if c.Hostname != "localhost" || !slices.Equal(c.Domains, []string{"localhost"}) || c.UsersFile() != "data/users.db" {
		t.Errorf("Dev: hostname %q domains %v users file %q", c.Hostname, c.Domains, c.UsersFile())
	}
}

func TestLogValue(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	c := Dev()
	log.Info("starting", "config", c)
	out := buf.String()
	for _, want := range []string{
		"config.source=\"development defaults\"", "config.hostname=localhost", "config.data_dir=./data",
		`config.listen.imaps="127.0.0.1:2993 implicit TLS"`, `config.listen.smtp="127.0.0.1:2525 STARTTLS"`,
		`config.tls="self-signed in data_dir"`, "config.limits.max_message_size=33554432",
		"config.timeouts.imap_idle=30m0s", "config.log.debug_protocol=false",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %s:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 1 {
		t.Errorf("%d log lines, want one", n)
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1h2m")); err != nil || d.String() != "1h2m0s" || d.problem() != "" {
		t.Errorf("1h2m: %v %v %q", d, err, d.problem())
	}
	if b, _ := d.MarshalText(); string(b) != "1h2m0s" {
		t.Errorf("MarshalText = %s", b)
	}
	if err := d.UnmarshalText([]byte("soon")); err != nil || d.problem() == "" || d.Duration != 0 {
		t.Errorf("soon: %+v %v", d, err)
	}
	if b, _ := d.MarshalText(); string(b) != "soon" {
		t.Errorf("MarshalText of an invalid value = %s", b)
	}
}
