package main

// In-process tests of the admin commands (everything but serve), through
// run() with the real config and users packages on a temp data_dir.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailsuite/mailsuite/config"
	"github.com/mailsuite/mailsuite/users"
)

// cliConfig writes a config for example.org and example.net with its
// data_dir in a temp dir and returns the config path and data_dir. It
// clears $MAILSUITE_CONFIG so that only what a test sets counts.
func cliConfig(t *testing.T, extra string) (cfgPath, dataDir string) {
	t.Helper()
	t.Setenv(config.EnvVar, "")
	dir := t.TempDir()
	dataDir = filepath.Join(dir, "data")
	cfgPath = filepath.Join(dir, "mailsuite.toml")
	content := `hostname = "mail.example.org"
domains = ["example.org", "Example.NET"]
data_dir = "data"
` + extra + `
[listen]
imap = "127.0.0.1:1143"
smtp = "127.0.0.1:1025"
`
	if err := os.WriteFile(cfgPath, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dataDir
}

// cli runs the command line in-process.
func cli(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

// expect checks a command's complete output and exit status.
func expect(t *testing.T, stdin string, args []string, wantOut, wantErr string, wantCode int) {
	t.Helper()
	out, errOut, code := cli(t, stdin, args...)
	if out != wantOut || errOut != wantErr || code != wantCode {
		t.Errorf("mailsuite %s\n got: exit %d\nstdout: %q\nstderr: %q\nwant: exit %d\nstdout: %q\nstderr: %q",
			strings.Join(args, " "), code, out, errOut, wantCode, wantOut, wantErr)
	}
}

// noPostmaster is config check's warning about a postmaster address that
// reaches nobody.
func noPostmaster(addr, fix string) string {
	return "mailsuite: warning: " + addr + " reaches nobody, so mail to it bounces, and every mail domain must accept it (RFC 5321 §4.5.1); to fix it run: " + fix + "\n"
}

func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openDB opens the users file as a running server would.
func openDB(t *testing.T, dataDir string) *users.FileDB {
	t.Helper()
	db, err := users.OpenFile(filepath.Join(dataDir, "users.db"), users.FileOptions{Domains: []string{"example.org", "example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestUserCommands(t *testing.T) {
	cfg, dataDir := cliConfig(t, "")
	c := []string{"--config", cfg}
	usersFile := filepath.Join(dataDir, "users.db")

	expect(t, "alice secret\n", append([]string{"user", "add", "Alice@Example.org"}, c...), "user alice@example.org added\n", "", 0)
	expect(t, "bob secret", append(c, "user", "add", "bob@example.net"), "user bob@example.net added\n", "", 0)
	expect(t, "", append(c, "user", "list"), "alice@example.org\nbob@example.net\n", "", 0)

	// On disk: the documented JSON, argon2id hashes, no password, mode 0600.
	var f struct {
		Version int
		Users   map[string]struct{ Password string }
	}
	raw := fileBytes(t, usersFile)
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if f.Version != 1 || len(f.Users) != 2 || !strings.HasPrefix(f.Users["alice@example.org"].Password, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("users.db: %s", raw)
	}
	if bytes.Contains(raw, []byte("secret")) {
		t.Error("a password is in users.db")
	}
	if fi, _ := os.Stat(usersFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("users.db mode %v", fi.Mode().Perm())
	}

	db := openDB(t, dataDir)
	if u, err := db.Authenticate(t.Context(), "alice@example.org", "alice secret"); err != nil || u != "alice@example.org" {
		t.Fatalf("login with the password from stdin: %q, %v", u, err)
	}
	if _, err := db.Authenticate(t.Context(), "bob@example.net", "bob secret"); err != nil {
		t.Fatalf("a password without a final newline: %v", err)
	}

	// passwd: CRLF is taken off like LF.
	expect(t, "new secret\r\n", append(c, "user", "passwd", "ALICE@example.org"), "password of alice@example.org changed\n", "", 0)
	if _, err := db.Authenticate(t.Context(), "alice@example.org", "new secret"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if _, err := db.Authenticate(t.Context(), "alice@example.org", "alice secret"); err != users.ErrAuthFailed {
		t.Fatalf("old password: %v", err)
	}

	// del, with a note about an alias still naming the user.
	expect(t, "", append(c, "alias", "add", "team@example.org", "bob@example.net", "alice@example.org"), "alias team@example.org -> bob@example.net, alice@example.org added\n", "", 0)
	expect(t, "", append(c, "user", "del", "bob@example.net"),
		"user bob@example.net deleted; their stored mail was not removed\nnote: these aliases still list bob@example.net: team@example.org\n", "", 0)
	expect(t, "", append(c, "user", "list"), "alice@example.org\n", "", 0)
	if _, err := db.Authenticate(t.Context(), "bob@example.net", "bob secret"); err != users.ErrAuthFailed {
		t.Fatalf("deleted user: %v", err)
	}
}

func TestUserCommandErrors(t *testing.T) {
	cfg, dataDir := cliConfig(t, "")
	c := []string{"--config", cfg}
	expect(t, "long enough\n", append(c, "user", "add", "alice@example.org"), "user alice@example.org added\n", "", 0)
	expect(t, "", append(c, "alias", "add", "info@example.org", "alice@example.org"), "alias info@example.org -> alice@example.org added\n", "", 0)
	before := fileBytes(t, filepath.Join(dataDir, "users.db"))

	tests := []struct {
		stdin   string
		args    []string
		wantErr string
	}{
		{"long enough\n", []string{"user", "add", "alice@example.org"},
			"mailsuite: alice@example.org already exists; to change its password run: mailsuite user passwd alice@example.org\n"},
		{"long enough\n", []string{"user", "add", "ALICE@EXAMPLE.ORG"},
			"mailsuite: alice@example.org already exists; to change its password run: mailsuite user passwd alice@example.org\n"},
		{"long enough\n", []string{"user", "add", "info@example.org"},
			"mailsuite: info@example.org is already an alias; remove it first with: mailsuite alias del info@example.org\n"},
		{"long enough\n", []string{"user", "add", "carol@example.com"},
			"mailsuite: example.com is not one of this server's domains (example.org, Example.NET); add it to domains in " + cfg + " first\n"},
		{"long enough\n", []string{"user", "add", "carol+x@example.org"},
			`mailsuite: invalid address: "carol+x@example.org": the part before @ contains the subaddress delimiter "+"` + "\n"},
		{"long enough\n", []string{"user", "add", "a/b@example.org"},
			`mailsuite: invalid address: "a/b@example.org": the part before @ contains '/', which a mailbox name cannot hold` + "\n"},
		{"long enough\n", []string{"user", "add", "carol"},
			`mailsuite: invalid address: "carol": the address has no @domain part` + "\n"},
		{"", []string{"user", "add", "carol@example.org"},
			"mailsuite: no password on standard input: give it as the first line, like: mailsuite user add carol@example.org < password-file\n"},
		{"\n", []string{"user", "add", "carol@example.org"},
			"mailsuite: unacceptable password: it is empty (a password has at least 8 characters, not all spaces, and at most 1024 bytes on one line)\n"},
		{strings.Repeat("p", 1025) + "\n", []string{"user", "add", "carol@example.org"},
			"mailsuite: unacceptable password: it is longer than 1024 bytes (a password has at least 8 characters, not all spaces, and at most 1024 bytes on one line)\n"},
		{strings.Repeat("p", 5000), []string{"user", "add", "carol@example.org"},
			"mailsuite: unacceptable password: it is longer than 1024 bytes (a password has at least 8 characters, not all spaces, and at most 1024 bytes on one line)\n"},
		{"long enough\n", []string{"user", "passwd", "nobody@example.org"},
			"mailsuite: there is no user nobody@example.org; see mailsuite user list\n"},
		{"long enough\n", []string{"user", "passwd", "info@example.org"},
			"mailsuite: info@example.org is an alias, not a user; see mailsuite alias list\n"},
		{"", []string{"user", "del", "nobody@example.org"},
			"mailsuite: there is no user nobody@example.org; see mailsuite user list\n"},
		{"", []string{"user", "del", "info@example.org"},
			"mailsuite: info@example.org is an alias, not a user; see mailsuite alias list\n"},
	}
	for _, tt := range tests {
		expect(t, tt.stdin, append(tt.args, c...), "", tt.wantErr, 1)
	}
	if after := fileBytes(t, filepath.Join(dataDir, "users.db")); !bytes.Equal(before, after) {
		t.Errorf("a refused command changed users.db:\n%s", after)
	}
}

func TestAliasCommands(t *testing.T) {
	cfg, dataDir := cliConfig(t, "")
	c := []string{"--config", cfg}
	expect(t, "long enough\n", append(c, "user", "add", "alice@example.org"), "user alice@example.org added\n", "", 0)
	expect(t, "long enough\n", append(c, "user", "add", "bob@example.org"), "user bob@example.org added\n", "", 0)

	expect(t, "", append(c, "alias", "add", "Postmaster@example.org", "alice@example.org"),
		"alias postmaster@example.org -> alice@example.org added\n", "", 0)
	expect(t, "", append(c, "alias", "add", "team@example.org", "alice@example.org,bob@example.org", "Bob@Example.ORG"),
		"alias team@example.org -> alice@example.org, bob@example.org added\n", "", 0)
	expect(t, "", append(c, "alias", "list"),
		"postmaster@example.org -> alice@example.org\nteam@example.org -> alice@example.org, bob@example.org\n", "", 0)

	db := openDB(t, dataDir)
	if got, err := db.Resolve("team+x@example.org"); err != nil || strings.Join(got, " ") != "alice@example.org bob@example.org" {
		t.Fatalf("Resolve(team) = %v, %v", got, err)
	}

	before := fileBytes(t, filepath.Join(dataDir, "users.db"))
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"alias", "add", "team@example.org", "bob@example.org"},
			"mailsuite: team@example.org is already an alias; remove it first with: mailsuite alias del team@example.org\n"},
		{[]string{"alias", "add", "alice@example.org", "bob@example.org"},
			"mailsuite: a user named alice@example.org exists, so it cannot also be an alias; choose another name for the alias\n"},
		{[]string{"alias", "add", "ALICE@example.org", "bob@example.org"},
			"mailsuite: a user named alice@example.org exists, so it cannot also be an alias; choose another name for the alias\n"},
		{[]string{"alias", "add", "fwd@example.org", "Friend@Elsewhere.COM"},
			"mailsuite: alias target Friend@elsewhere.com is not in a local domain (example.org, Example.NET); outbound forwarding is not available yet\n"},
		{[]string{"alias", "add", "fwd@example.org", "alice@example.org", "friend+x@example.org.uk"},
			"mailsuite: alias target friend+x@example.org.uk is not in a local domain (example.org, Example.NET); outbound forwarding is not available yet\n"},
		{[]string{"alias", "add", "a/b@example.org", "alice@example.org"},
			`mailsuite: invalid address: "a/b@example.org": the part before @ contains '/', which a mailbox name cannot hold` + "\n"},
		{[]string{"alias", "add", "x@example.org", "nobody@example.org"},
			"mailsuite: alias target nobody@example.org is neither a user nor an alias; add it first (mailsuite user add) or check the spelling\n"},
		{[]string{"alias", "add", "x@example.org", "x@example.org"},
			"mailsuite: invalid address: alias x@example.org cannot point to itself\n"},
		{[]string{"alias", "add", "x@example.com", "alice@example.org"},
			"mailsuite: example.com is not one of this server's domains (example.org, Example.NET); add it to domains in " + cfg + " first\n"},
		{[]string{"alias", "add", "x@example.org", "not an address"},
			`mailsuite: invalid address: "not an address": the address has no @domain part` + "\n"},
		{[]string{"alias", "del", "nothing@example.org"},
			"mailsuite: there is no alias nothing@example.org; see mailsuite alias list\n"},
		{[]string{"alias", "del", "alice@example.org"},
			"mailsuite: alice@example.org is a user, not an alias; to delete a user run: mailsuite user del alice@example.org\n"},
		{[]string{"alias", "add", "x@example.org", ","},
			"mailsuite: alias add needs an ALIAS and at least one TARGET; run 'mailsuite help' for usage\n"},
	} {
		code := 1
		if strings.Contains(tt.wantErr, "for usage") {
			code = 2
		}
		expect(t, "", append(tt.args, c...), "", tt.wantErr, code)
	}
	if after := fileBytes(t, filepath.Join(dataDir, "users.db")); !bytes.Equal(before, after) {
		t.Errorf("a refused command changed users.db:\n%s", after)
	}

	expect(t, "", append(c, "alias", "del", "TEAM@example.org"), "alias team@example.org deleted\n", "", 0)
	expect(t, "", append(c, "alias", "list"), "postmaster@example.org -> alice@example.org\n", "", 0)
}

// --config before or after the command, as one word or two; then
// $MAILSUITE_CONFIG, then ./mailsuite.toml, then development defaults.
func TestConfigLocation(t *testing.T) {
	cfg, _ := cliConfig(t, "")
	forms := [][]string{
		{"--config", cfg, "user", "list"},
		{"user", "list", "--config", cfg},
		{"user", "--config", cfg, "list"},
		{"--config=" + cfg, "user", "list"},
		{"user", "list", "-config=" + cfg},
		{"-config", cfg, "user", "list"},
	}
	expect(t, "long enough\n", []string{"user", "add", "a@example.org", "--config", cfg}, "user a@example.org added\n", "", 0)
	for _, args := range forms {
		expect(t, "", args, "a@example.org\n", "", 0)
	}

	// $MAILSUITE_CONFIG.
	t.Setenv(config.EnvVar, cfg)
	expect(t, "", []string{"user", "list"}, "a@example.org\n", "", 0)
	expect(t, "", []string{"config", "check"}, "smtp         127.0.0.1:1025           STARTTLS\nimap         127.0.0.1:1143           STARTTLS\nconfig OK: "+cfg+"\n",
		noPostmaster("postmaster@example.org", "mailsuite alias add postmaster@example.org a@example.org")+
			noPostmaster("postmaster@example.net", "mailsuite alias add postmaster@example.net a@example.org"), 0)

	// ./mailsuite.toml, when the variable is empty.
	t.Setenv(config.EnvVar, "")
	t.Chdir(filepath.Dir(cfg))
	expect(t, "", []string{"user", "list"}, "a@example.org\n", "", 0)

	// Nothing: development defaults, users in ./data/users.db.
	work := t.TempDir()
	t.Chdir(work)
	expect(t, "long enough\n", []string{"user", "add", "dev@localhost"}, "user dev@localhost added\n", "", 0)
	if _, err := os.Stat(filepath.Join(work, "data", "users.db")); err != nil {
		t.Fatalf("development defaults did not use ./data/users.db: %v", err)
	}
	expect(t, "long enough\n", []string{"user", "add", "x@example.org"}, "",
		"mailsuite: example.org is not one of this server's domains (localhost); add it to domains in a config file (there is none: development defaults apply; see mailsuite.example.toml) first\n", 1)

	// A file named by --config or the variable must exist.
	missing := filepath.Join(work, "nope.toml")
	expect(t, "", []string{"user", "list", "--config", missing}, "",
		"mailsuite: config file "+missing+" (from --config): no such file or directory\n", 1)
	t.Setenv(config.EnvVar, missing)
	expect(t, "", []string{"user", "list"}, "",
		"mailsuite: config file "+missing+" (from $MAILSUITE_CONFIG): no such file or directory\n", 1)
}

func TestConfigCheck(t *testing.T) {
	example := string(fileBytes(t, "../../mailsuite.example.toml"))
	cfg, _ := cliConfig(t, "")
	expect(t, "", []string{"config", "check", "--config", cfg},
		"smtp         127.0.0.1:1025           STARTTLS\nimap         127.0.0.1:1143           STARTTLS\nconfig OK: "+cfg+"\n",
		noPostmaster("postmaster@example.org", "mailsuite user add postmaster@example.org")+
			noPostmaster("postmaster@example.net", "mailsuite user add postmaster@example.net"), 0)

	t.Chdir(t.TempDir())
	expect(t, "", []string{"config", "check"}, `smtp         127.0.0.1:2525           STARTTLS
submission   127.0.0.1:2587           STARTTLS
submissions  127.0.0.1:2465           implicit TLS
imap         127.0.0.1:2143           STARTTLS
imaps        127.0.0.1:2993           implicit TLS
pop3         127.0.0.1:2110           STARTTLS
pop3s        127.0.0.1:2995           implicit TLS
config OK: development defaults
`, noPostmaster("postmaster@localhost", "mailsuite user add postmaster@localhost"), 0)

	// The shipped example checks out, once data_dir is somewhere writable.
	dir := t.TempDir()
	example = strings.Replace(example, `data_dir = "/var/lib/mailsuite"`, `data_dir = "data"`, 1)
	exPath := filepath.Join(dir, "example.toml")
	os.WriteFile(exPath, []byte(example), 0o600)
	out, errOut, code := cli(t, "", "config", "check", "--config", exPath)
	if os.Geteuid() == 0 {
		// As root, serve would refuse the example's public listeners
		// without [server] user, and so does the check.
		if code != 1 || errOut != "mailsuite: "+errRootRefused.Error()+"\n" {
			t.Errorf("example config as root: exit %d\n%s%s", code, out, errOut)
		}
	} else {
		wantErr := noPostmaster("postmaster@example.org", "mailsuite user add postmaster@example.org")
		if code != 0 || errOut != wantErr || !strings.HasSuffix(out, "config OK: "+exPath+"\n") || strings.Count(out, "\n") != 8 {
			t.Errorf("example config: exit %d\n%s%s", code, out, errOut)
		}
	}

	// No listener: serve would refuse, so check does too.
	none := filepath.Join(dir, "none.toml")
	os.WriteFile(none, []byte("hostname = \"h.example\"\ndomains = [\"example.org\"]\ndata_dir = \"d\"\n"), 0o600)
	expect(t, "", []string{"config", "check", "--config", none}, "",
		"mailsuite: no service is turned on: set at least one address under [listen], or serve will not start\n", 1)
}

// A bad config is reported whole, one problem a line with file:line, by
// every command that reads it (serve included, before anything starts).
func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(config.EnvVar, "")
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte(`hostname = "mail.example.org"
domains = ["example.org"]
data_dir = "data"
colour = "blue"
[listen]
imap = "0.0.0.0"
`), 0o600)
	want := "mailsuite: " + bad + `:4: colour: unknown key (known keys at the top level: hostname, domains, data_dir, recipient_delimiter, listen, tls, auth, limits, timeouts, log, outbound, server)
mailsuite: ` + bad + `:6: listen.imap: "0.0.0.0" is not host:port; write it like "0.0.0.0:143" or "[::]:143"
mailsuite: the config has 2 problems; fix them and run 'mailsuite config check'
`
	for _, args := range [][]string{
		{"config", "check"}, {"user", "list"}, {"user", "add", "a@example.org"}, {"alias", "list"}, {"serve"},
	} {
		expect(t, "long enough\n", append(args, "--config", bad), "", want, 1)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
		t.Error("a command on a bad config created data_dir")
	}

	syntax := filepath.Join(dir, "syntax.toml")
	os.WriteFile(syntax, []byte("hostname = \"x\n"), 0o600)
	expect(t, "", []string{"config", "check", "--config", syntax}, "",
		"mailsuite: "+syntax+":1: hostname: strings cannot contain newlines\n"+
			"mailsuite: the config has 1 problem; fix it and run 'mailsuite config check'\n", 1)
}

func TestUsage(t *testing.T) {
	cliConfig(t, "") // clears $MAILSUITE_CONFIG
	t.Chdir(t.TempDir())
	hint := "; run 'mailsuite help' for usage\n"
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{nil, "mailsuite: no command given" + hint},
		{[]string{"frobnicate"}, `mailsuite: unknown command "frobnicate"` + hint},
		{[]string{"--verbose", "user", "list"}, `mailsuite: unknown option "--verbose"` + hint},
		{[]string{"user", "list", "--config"}, "mailsuite: --config needs a file name" + hint},
		{[]string{"--config=", "user", "list"}, "mailsuite: --config needs a file name" + hint},
		{[]string{"--config", "a", "user", "list", "--config", "b"}, "mailsuite: --config is given twice" + hint},
		{[]string{"user"}, "mailsuite: user needs a sub-command: add, del, list, passwd" + hint},
		{[]string{"user", "remove", "x@example.org"}, `mailsuite: unknown sub-command "remove" for user (known: add, del, list, passwd)` + hint},
		{[]string{"user", "add"}, "mailsuite: user add needs an ADDRESS" + hint},
		{[]string{"user", "add", "a@example.org", "b@example.org"}, `mailsuite: too many arguments for user add: "b@example.org"` + hint},
		{[]string{"user", "list", "extra"}, `mailsuite: too many arguments for user list: "extra"` + hint},
		{[]string{"alias", "add", "a@example.org"}, "mailsuite: alias add needs an ALIAS and at least one TARGET" + hint},
		{[]string{"alias", "del"}, "mailsuite: alias del needs an ALIAS" + hint},
		{[]string{"config"}, "mailsuite: config needs a sub-command: check" + hint},
		{[]string{"config", "show"}, `mailsuite: unknown sub-command "show" for config (known: check)` + hint},
		{[]string{"serve", "now"}, `mailsuite: serve takes no arguments, got "now"` + hint},
	} {
		expect(t, "", tt.args, "", tt.err, 2)
	}
	// Usage errors touch nothing: no ./data was made.
	if _, err := os.Stat("data"); err == nil {
		t.Error("a usage error created ./data")
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"user", "add", "-h"}, {"help", "user"}} {
		out, errOut, code := cli(t, "", args...)
		if code != 0 || errOut != "" || out != usageText {
			t.Errorf("%v: exit %d, stderr %q, stdout starts %.40q", args, code, errOut, out)
		}
	}
	// "--" ends the options: an address may then start with a dash.
	cfg, _ := cliConfig(t, "")
	expect(t, "long enough\n", []string{"--config", cfg, "user", "add", "--", "-x@example.org"}, "user -x@example.org added\n", "", 0)
}

// The admin commands work while a server has the database open: the
// server's FileDB sees each change at its next call.
func TestCommandsWhileServerRuns(t *testing.T) {
	cfg, dataDir := cliConfig(t, "")
	expect(t, "long enough\n", []string{"--config", cfg, "user", "add", "early@example.org"}, "user early@example.org added\n", "", 0)
	server := openDB(t, dataDir)
	if _, err := server.Resolve("late@example.org"); err == nil {
		t.Fatal("late@ resolves before it exists")
	}
	expect(t, "late password\n", []string{"--config", cfg, "user", "add", "late@example.org"}, "user late@example.org added\n", "", 0)
	if u, err := server.Authenticate(t.Context(), "late@example.org", "late password"); err != nil || u != "late@example.org" {
		t.Fatalf("server does not see the new user: %q, %v", u, err)
	}
	expect(t, "", []string{"--config", cfg, "alias", "add", "both@example.org", "early@example.org", "late@example.org"},
		"alias both@example.org -> early@example.org, late@example.org added\n", "", 0)
	if got, err := server.Resolve("both@example.org"); err != nil || len(got) != 2 {
		t.Fatalf("server does not see the alias: %v, %v", got, err)
	}
	expect(t, "", []string{"--config", cfg, "user", "del", "late@example.org"},
		"user late@example.org deleted; their stored mail was not removed\nnote: these aliases still list late@example.org: both@example.org\n", "", 0)
	if _, err := server.Authenticate(t.Context(), "late@example.org", "late password"); err != users.ErrAuthFailed {
		t.Fatalf("server still accepts a deleted user: %v", err)
	}
}

// Commands that only look or remove leave a missing data_dir missing (a
// mistyped --config must not leave a stray data directory), and say what
// is missing; the first add creates it.
func TestAdminCommandsCreateNothing(t *testing.T) {
	cfg, dataDir := cliConfig(t, "")
	expect(t, "", []string{"--config", cfg, "user", "list"}, "", "", 0)
	expect(t, "", []string{"--config", cfg, "alias", "list"}, "", "", 0)
	expect(t, "", []string{"--config", cfg, "user", "del", "alice@example.org"}, "",
		"mailsuite: there is no user alice@example.org; see mailsuite user list\n", 1)
	expect(t, "secret-password-1\n", []string{"--config", cfg, "user", "passwd", "alice@example.org"}, "",
		"mailsuite: there is no user alice@example.org; see mailsuite user list\n", 1)
	expect(t, "", []string{"--config", cfg, "alias", "del", "team@example.org"}, "",
		"mailsuite: there is no alias team@example.org; see mailsuite alias list\n", 1)
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("data_dir after look-only commands: %v, want it missing", err)
	}
	if _, errOut, code := cli(t, "secret-password-1\n", "--config", cfg, "user", "add", "alice@example.org"); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, errOut)
	}
	expect(t, "", []string{"--config", cfg, "user", "list"}, "alice@example.org\n", "", 0)
}

// config check refuses a data_dir that serve could not use, naming it and
// the fix, and writes nothing.
func TestConfigCheckDataDir(t *testing.T) {
	cfg, dataDir := cliConfig(t, "")
	check := func(wantErr string) {
		t.Helper()
		out, errOut, code := cli(t, "", "config", "check", "--config", cfg)
		if wantErr == "" {
			if code != 0 {
				t.Errorf("config check: exit %d: %s", code, errOut)
			}
			return
		}
		if code != 1 || out != "" || errOut != "mailsuite: "+wantErr+"\n" {
			t.Errorf("config check: exit %d\nstdout %q\nstderr %q\nwant stderr %q", code, out, errOut, "mailsuite: "+wantErr+"\n")
		}
	}
	check("") // missing, in a writable directory: serve makes it
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Fatalf("config check made data_dir: %v", err)
	}
	// An unwritable parent, for a user that is not root, is the config's
	// own check (config.Load).
	if os.Geteuid() != 0 {
		parent := filepath.Dir(dataDir)
		os.Chmod(parent, 0o500)
		check(fmt.Sprintf("%s:3: data_dir: cannot create %q: cannot write in %q: permission denied\nmailsuite: the config has 1 problem; fix it and run 'mailsuite config check'", cfg, dataDir, parent))
		os.Chmod(parent, 0o700)
	}

	if os.Geteuid() != 0 {
		t.Log("not root: the [server] user cases need root")
		return
	}
	nobody, err := lookupRunAs("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	withUser := func(dir string) {
		os.WriteFile(cfg, []byte(`hostname = "mail.example.org"
domains = ["example.org"]
data_dir = "`+dir+`"
[server]
user = "nobody"
[listen]
imap = "127.0.0.1:1143"
`), 0o600)
	}
	// Under /tmp, in a directory everyone may pass (t.TempDir's own
	// parent is 0700).
	base, err := os.MkdirTemp("", "configcheck")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	// A data_dir under a directory only root may pass.
	hidden := filepath.Join(base, "hidden")
	os.Mkdir(hidden, 0o700)
	withUser(filepath.Join(hidden, "data"))
	check(fmt.Sprintf("data_dir %s is out of reach of nobody, who runs the server: %s (mode -rwx------) does not let it pass; choose a data_dir outside it, or chmod o+x %s",
		filepath.Join(hidden, "data"), hidden, hidden))
	// Reachable, but an existing data_dir owned by root.
	data := filepath.Join(base, "data")
	os.Mkdir(data, 0o700)
	withUser(data)
	check(fmt.Sprintf("data_dir %s belongs to uid 0, not to nobody (uid %d), who runs the server: chown -R nobody: %s", data, nobody.uid, data))
	os.Chown(data, nobody.uid, nobody.gid)
	check("")
}

// Deleting a user whose mail is stored says where it stays; giving the
// address to a new user warns that they will see it.
func TestUserReaddedSeesOldMail(t *testing.T) {
	cfg, dataDir := cliConfig(t, "")
	if _, errOut, code := cli(t, "secret-password-1\n", "--config", cfg, "user", "add", "carol@example.org"); code != 0 {
		t.Fatalf("user add: %s", errOut)
	}
	mail := filepath.Join(dataDir, "mail", "example.org", "carol")
	if err := os.MkdirAll(filepath.Join(mail, "cur"), 0o700); err != nil { // as a delivery would
		t.Fatal(err)
	}
	expect(t, "", []string{"--config", cfg, "user", "del", "carol@example.org"},
		"user carol@example.org deleted; their stored mail was not removed\nnote: their mail stays in "+mail+
			"; a user added later with this address would see it, so unless the address is to be given back to them, stop the server, remove it (rm -r "+mail+"), and start the server again\n", "", 0)
	expect(t, "secret-password-2\n", []string{"--config", cfg, "user", "add", "carol@example.org"},
		"user carol@example.org added\n",
		"mailsuite: warning: "+mail+" already holds mail of an earlier account with this address, and carol@example.org now sees it; "+
			"if it should not, stop the server, move that directory away (mv "+mail+" "+mail+".old), and start the server again\n", 0)
}
