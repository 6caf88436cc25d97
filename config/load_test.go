package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const minimalFile = `hostname = "mail.example.org"
domains = ["example.org"]
data_dir = "data"
`

func TestLoadMinimal(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "m.toml", minimalFile)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != path || c.DataDir != filepath.Join(dir, "data") {
		t.Errorf("Path %q, DataDir %q", c.Path, c.DataDir)
	}
	// Everything left out keeps the production default.
	d := Default()
	if c.Limits != d.Limits || c.Timeouts != d.Timeouts || c.Log != d.Log || c.RecipientDelimiter != "+" || c.Listen != (Listen{}) {
		t.Errorf("defaults not kept: %+v", c)
	}
	if len(c.Listeners()) != 0 {
		t.Errorf("listeners on by default: %v", c.Listeners())
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadValues(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "v.toml", minimalFile+`
recipient_delimiter = "-"
[listen]
smtp = "[::]:25"
imaps = "127.0.0.1:993"
pop3 = ""
[tls]
cert_file = "certs/c.pem"
key_file = "/abs/k.pem"
[auth]
allow_plaintext = true
[limits]
max_message_size = 1000000
max_recipients = 0
max_line_length = 2000
[timeouts]
smtp = "90s"
imap_idle = "1h30m"
pop3 = "0s"
[log]
level = "debug"
format = "json"
debug_protocol = true
`)
	_, err := Parse([]byte(readFile(t, path)), path)
	wantErr := []string{
		path + `:11: tls.cert_file: cannot read "` + filepath.Join(dir, "certs/c.pem") + `": no such file or directory`,
		path + `:12: tls.key_file: cannot read "/abs/k.pem": no such file or directory`,
	}
	if got := problemStrings(t, err); !slices.Equal(got, wantErr) {
		t.Fatalf("missing TLS files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantErr, "\n"))
	}
	// Point the TLS files at real ones and check the values.
	cert, key := certPair(t, dir, "")
	text := strings.ReplaceAll(readFile(t, path), `"certs/c.pem"`, `"cert.pem"`)
	text = strings.ReplaceAll(text, `"/abs/k.pem"`, `"`+key+`"`)
	c, err := Parse([]byte(text), path)
	if err != nil {
		t.Fatal(err)
	}
	if c.TLS.CertFile != cert || c.TLS.KeyFile != key {
		t.Errorf("TLS paths %q %q", c.TLS.CertFile, c.TLS.KeyFile)
	}
	if c.RecipientDelimiter != "-" || !c.Auth.AllowPlaintext {
		t.Errorf("delimiter %q, allow_plaintext %v", c.RecipientDelimiter, c.Auth.AllowPlaintext)
	}
	wantLimits := Limits{MaxMessageSize: 1000000, MaxRecipients: DefaultMaxRecipients, MaxLineLength: 2000,
		MaxConnections: DefaultMaxConnections, MaxConnectionsPerIP: DefaultMaxConnectionsPerIP}
	if c.Limits != wantLimits {
		t.Errorf("limits %+v, want %+v", c.Limits, wantLimits)
	}
	if c.Timeouts.SMTP.Duration != 90*time.Second || c.Timeouts.IMAPIdle.Duration != 90*time.Minute || c.Timeouts.POP3.Duration != DefaultPOP3Timeout {
		t.Errorf("timeouts %+v", c.Timeouts)
	}
	if c.Log != (Log{Level: "debug", Format: "json", DebugProtocol: true}) {
		t.Errorf("log %+v", c.Log)
	}
	want := []Listener{{"smtp", "[::]:25", SecuritySTARTTLS}, {"imaps", "127.0.0.1:993", SecurityImplicitTLS}}
	if got := c.Listeners(); !slices.Equal(got, want) {
		t.Errorf("listeners %v, want %v", got, want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	return string(mustRead(t, path))
}

// Unknown keys, wrong durations and semantic problems come together, each
// with its line.
func TestLoadReportsEverythingWithLines(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "bad.toml", `# a config with many mistakes
hostnme = "mail.example.org"
domains = ["example.org", "bad_domain"]
data_dir = "data"

[listen]
smtp = "0.0.0.0:25"
smtpd = "0.0.0.0:26"
imap = "0.0.0.0:25"

[timeouts]
smtp = "5 minutes"
imap_idle = 300
pop3 = "-1m"

[limits]
max_recipients = -1

[logging]
level = "debug"
format = "json"

[log]
Level = "info"
`)
	_, err := Load(path)
	want := []string{
		path + `:2: hostnme: unknown key (known keys at the top level: hostname, domains, data_dir, recipient_delimiter, listen, tls, auth, limits, timeouts, log, outbound, server)`,
		path + `:8: listen.smtpd: unknown key (known keys in [listen]: smtp, submission, submissions, imap, imaps, pop3, pop3s)`,
		path + `:19: logging: unknown key (known keys at the top level: hostname, domains, data_dir, recipient_delimiter, listen, tls, auth, limits, timeouts, log, outbound, server)`,
		path + `:24: log.Level: unknown key (known keys in [log]: level, format, debug_protocol)`,
		`hostname: must be set to this server's public name, like "mail.example.org"`,
		path + `:3: domains: "bad_domain" is not a valid domain name (letters, digits, hyphens and dots, like "example.org")`,
		path + `:9: listen.imap: "0.0.0.0:25" is also used by listen.smtp`,
		path + `:17: limits.max_recipients: must not be negative (0 means the default)`,
		path + `:12: timeouts.smtp: "5 minutes" is not a duration; write it with a unit, like "90s", "5m" or "1h"`,
		path + `:13: timeouts.imap_idle: "300" is not a duration; write it with a unit, like "90s", "5m" or "1h"`,
		path + `:14: timeouts.pop3: must not be negative`,
	}
	// hostname is missing, so its problem has the file but no line.
	want[4] = path + ": " + want[4]
	if got := problemStrings(t, err); !slices.Equal(got, want) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadSyntaxAndTypeErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		content string
		want    string
	}{
		{"hostname = \"mail.example.org\"\ndomains = [\"a\"\n", ":2: domains: expected a comma (',') or array terminator (']'), but got end of file"},
		{"hostname = mail.example.org\n", ":1: hostname: expected value but found \"mail\" instead"},
		{"hostname = 42\n", `:1: hostname: is a whole number; it must be a string in quotes`},
		{"[limits]\nmax_recipients = \"ten\"\n", `:2: limits.max_recipients: is a string; it must be a whole number`},
		{"hostname = \"a\"\nhostname = \"b\"\n", `:2: hostname: Key 'hostname' has already been defined.`},
	}
	for i, tt := range tests {
		path := writeFile(t, dir, "f"+string(rune('0'+i))+".toml", tt.content)
		got := problemStrings(t, func() error { _, err := Load(path); return err }())
		// A type error comes first; the checks of the rest follow it
		// (these files lack hostname or domains).
		if len(got) == 0 || got[0] != path+tt.want {
			t.Errorf("Load(%q):\n%q\nwant first:\n%q", tt.content, got, path+tt.want)
		}
	}
	got := problemStrings(t, func() error { _, err := Load(filepath.Join(dir, "missing.toml")); return err }())
	if want := filepath.Join(dir, "missing.toml") + ": cannot read the config file: no such file or directory"; len(got) != 1 || got[0] != want {
		t.Errorf("missing file: %q", got)
	}
}

func TestKeyLines(t *testing.T) {
	text := `# comment
a = 1
"quoted key" = 2
b.c = 3   # dotted
  [ t ]  # header with spaces
x = "has = inside"
y = """
fake = 1
"""
'lit.key' = 4
[[arr]]
z = 5
[t.sub]
w = [
  "v = 1",
]
`
	want := map[string]int{"a": 2, "quoted key": 3, "b.c": 4, "t": 5, "t.x": 6, "t.y": 7, "t.lit.key": 10, "arr": 11, "arr.z": 12, "t.sub": 13, "t.sub.w": 14}
	got := keyLines([]byte(text))
	for k, n := range want {
		if got[k] != n {
			t.Errorf("line of %q = %d, want %d", k, got[k], n)
		}
	}
	if _, ok := got["t.fake"]; ok {
		t.Error("a line inside a multi-line string was taken for a key")
	}
}

// A value of the wrong type is reported like every other problem, as
// file:line: key: message, saying what the value is and what it must be.
func TestLoadTypeErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		content string
		want    string
	}{
		{"hostname = \"mail.example.org\"\n\n\ndata_dir = true\n", `:4: data_dir: is true or false; it must be a string in quotes`},
		{"domains = \"example.org\"\n", `:1: domains: is a string; it must be an array of strings, like ["a", "b"]`},
		{"domains = [\"example.org\", 7]\n", `:1: domains: has an entry that is a whole number; each must be a string in quotes`},
		{"# listen\nlisten = \"0.0.0.0:25\"\n", `:2: listen: is a string; it must be a table`},
		{"[listen]\nimap = 143\n", `:2: listen.imap: is a whole number; it must be a string in quotes`},
		{"[auth]\nallow_plaintext = \"yes\"\n", `:2: auth.allow_plaintext: is a string; it must be true or false`},
		{"[limits]\n\nmax_message_size = 1.5e6\n", `:3: limits.max_message_size: is a decimal number; it must be a whole number`},
		{"[timeouts]\nsmtp = [\"5m\"]\n", `:2: timeouts.smtp: is an array; it must be a duration in quotes, like "5m"`},
		{"[log]\nlevel = 2024-01-02T03:04:05Z\n", `:2: log.level: is a date or time; it must be a string in quotes`},
		{"[log]\nformat = {kind = \"json\"}\n", `:2: log.format: is a table; it must be a string in quotes`},
	}
	for i, tt := range tests {
		path := writeFile(t, dir, fmt.Sprintf("t%d.toml", i), tt.content)
		got := problemStrings(t, func() error { _, err := Load(path); return err }())
		if len(got) == 0 || got[0] != path+tt.want {
			t.Errorf("Load(%q):\n%q\nwant first:\n%q", tt.content, got, path+tt.want)
		}
	}
	// Text the reader does not know keeps the decoder's words, with the file.
	c := &Config{Path: "/x.toml"}
	if p := decodeProblem(c, errors.New("toml: something new")); p.String() != "/x.toml: something new" {
		t.Errorf("unknown decoder error: %q", p.String())
	}
	if p, ok := typeProblem(c, `toml: (last key "hostname"): incompatible types: TOML value has type int64; destination has type string`); !ok || p.String() != "/x.toml: hostname: is a whole number; it must be a string in quotes" {
		t.Errorf("error without a line: %q, %v", p.String(), ok)
	}
}

// Values of the wrong type are all reported, with the other problems of
// the file, each once: the decoder alone stops at the first.
func TestLoadEveryTypeError(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "many.toml", `hostname = "mail.example.org"
domains = ["example.org"]
bogus = 1
[listen]
smtp = 25
imap = "127.0.0.1:1143"
[limits]
max_recipients = "10"
[auth]
allow_plaintext = "yes"
`)
	got := problemStrings(t, func() error { _, err := Load(path); return err }())
	want := []string{
		path + `:5: listen.smtp: is a whole number; it must be a string in quotes`,
		path + `:8: limits.max_recipients: is a string; it must be a whole number`,
		path + `:10: auth.allow_plaintext: is a string; it must be true or false`,
	}
	// In line order, whatever order the decoder met the tables in.
	if len(got) != 4 || !strings.Contains(got[0], ":3: bogus: ") || strings.Join(got[1:], "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s\nand bogus at line 3", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A wrong value over several lines: its first line is blanked, the
	// rest would not parse; what was found is reported, nothing made up.
	path = writeFile(t, dir, "multi.toml", "hostname = \"h.example\"\ndomains = [\n 1,\n 2,\n]\n[limits]\nmax_recipients = \"x\"\n")
	got = problemStrings(t, func() error { _, err := Load(path); return err }())
	// (The decoder may meet limits first and report it too.)
	if len(got) == 0 || len(got) > 2 || !strings.HasPrefix(got[0], path+":2: domains: ") {
		t.Errorf("multi-line value: %q", got)
	}
}
