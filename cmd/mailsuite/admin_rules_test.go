package main

// Tests of the admin commands' rules: password strength, the notes and
// warnings after a delete, postmaster, and config check writing nothing.

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailsuite/mailsuite/config"
)

const passwordRuleText = " (a password has at least 8 characters, not all spaces, and at most 1024 bytes on one line)\n"

// Passwords people choose at the command line have at least 8 characters
// (not bytes) and are not all white space; refused ones change nothing.
func TestPasswordRules(t *testing.T) {
	cfg, dataDir := cliConfig(t, "")
	c := []string{"--config", cfg}
	expect(t, "old password\n", append(c, "user", "add", "alice@example.org"), "user alice@example.org added\n", "", 0)
	usersFile := filepath.Join(dataDir, "users.db")
	before := fileBytes(t, usersFile)
	for _, tt := range []struct{ stdin, why string }{
		{"short\n", "it is shorter than 8 characters"},
		{"1234567\n", "it is shorter than 8 characters"},
		{"ключ\n", "it is shorter than 8 characters"}, // 8 bytes, 4 characters
		{"        \n", "it is only white space"},
		{"\t \t \t \t \t\n", "it is only white space"},
		{" \u00a0 \u2003 \u3000  \n", "it is only white space"},
		{"\n", "it is empty"},
	} {
		want := "mailsuite: unacceptable password: " + tt.why + passwordRuleText
		expect(t, tt.stdin, append(c, "user", "add", "bob@example.org"), "", want, 1)
		expect(t, tt.stdin, append(c, "user", "passwd", "alice@example.org"), "", want, 1)
	}
	if after := fileBytes(t, usersFile); !bytes.Equal(before, after) {
		t.Errorf("a refused password changed users.db:\n%s", after)
	}
	db := openDB(t, dataDir)
	if _, err := db.Authenticate(t.Context(), "alice@example.org", "old password"); err != nil {
		t.Errorf("the old password no longer works: %v", err)
	}

	// Exactly 8 characters, and 8 non-ASCII characters, are enough.
	expect(t, "12345678\n", append(c, "user", "add", "bob@example.org"), "user bob@example.org added\n", "", 0)
	expect(t, "пароль12\n", append(c, "user", "passwd", "alice@example.org"), "password of alice@example.org changed\n", "", 0)
	expect(t, " spaced  \n", append(c, "user", "add", "carol@example.org"), "user carol@example.org added\n", "", 0)
	for user, pw := range map[string]string{"bob@example.org": "12345678", "alice@example.org": "пароль12", "carol@example.org": " spaced  "} {
		if _, err := db.Authenticate(t.Context(), user, pw); err != nil {
			t.Errorf("%s cannot log in with %q: %v", user, pw, err)
		}
	}

	// The users API keeps its own rule: the command line's is for people.
	if err := db.SetPassword("bob@example.org", "pw"); err != nil {
		t.Errorf("users.FileDB refuses a short password: %v", err)
	}
}

// alias del, like user del, names the aliases left listing what it
// deleted, directly or by a subaddress.
func TestAliasDelNotes(t *testing.T) {
	cfg, _ := cliConfig(t, "")
	c := []string{"--config", cfg}
	expect(t, "long enough\n", append(c, "user", "add", "alice@example.org"), "user alice@example.org added\n", "", 0)
	expect(t, "long enough\n", append(c, "user", "add", "postmaster@example.org"), "user postmaster@example.org added\n", "", 0)
	expect(t, "long enough\n", append(c, "user", "add", "postmaster@example.net"), "user postmaster@example.net added\n", "", 0)
	expect(t, "", append(c, "alias", "add", "team@example.org", "alice@example.org"), "alias team@example.org -> alice@example.org added\n", "", 0)
	expect(t, "", append(c, "alias", "add", "all@example.net", "Team@example.org", "postmaster@example.net"),
		"alias all@example.net -> Team@example.org, postmaster@example.net added\n", "", 0)
	expect(t, "", append(c, "alias", "add", "lists@example.org", "team+lists@example.org"), "alias lists@example.org -> team+lists@example.org added\n", "", 0)
	expect(t, "", append(c, "alias", "add", "other@example.org", "teammate@example.org,alice@example.org"), "", "mailsuite: alias target teammate@example.org is neither a user nor an alias; add it first (mailsuite user add) or check the spelling\n", 1)
	expect(t, "", append(c, "alias", "add", "other@example.org", "alice@example.org"), "alias other@example.org -> alice@example.org added\n", "", 0)

	expect(t, "", append(c, "alias", "del", "TEAM@example.org"),
		"alias team@example.org deleted\nnote: these aliases still list team@example.org: all@example.net, lists@example.org\n", "", 0)
	// Nothing lists other@: no note.
	expect(t, "", append(c, "alias", "del", "other@example.org"), "alias other@example.org deleted\n", "", 0)
}

// postmaster@ each local domain must reach someone (RFC 5321 §4.5.1):
// deleting what it reaches warns, config check warns for each domain
// where it reaches nobody, and the command each warning gives fixes it.
func TestPostmasterWarnings(t *testing.T) {
	cfg, _ := cliConfig(t, "")
	c := []string{"--config", cfg}
	listing := "smtp         127.0.0.1:1025           STARTTLS\nimap         127.0.0.1:1143           STARTTLS\nconfig OK: " + cfg + "\n"
	lost := func(addr, fix string) string {
		return "mailsuite: warning: mail to " + addr + " will now bounce: it reaches nobody, and every mail domain must accept it (RFC 5321 §4.5.1); to fix it run: " + fix + "\n"
	}

	expect(t, "long enough\n", append(c, "user", "add", "alice@example.org"), "user alice@example.org added\n", "", 0)
	expect(t, "long enough\n", append(c, "user", "add", "carol@example.net"), "user carol@example.net added\n", "", 0)
	expect(t, "long enough\n", append(c, "user", "add", "postmaster@example.net"), "user postmaster@example.net added\n", "", 0)
	expect(t, "", append(c, "alias", "add", "postmaster@example.org", "alice@example.org"), "alias postmaster@example.org -> alice@example.org added\n", "", 0)
	expect(t, "", append(c, "config", "check"), listing, "", 0)

	// Deleting the alias: a warning, and the deletion stands.
	expect(t, "", append(c, "alias", "del", "postmaster@example.org"), "alias postmaster@example.org deleted\n",
		lost("postmaster@example.org", "mailsuite alias add postmaster@example.org alice@example.org"), 0)
	expect(t, "", append(c, "config", "check"), listing,
		noPostmaster("postmaster@example.org", "mailsuite alias add postmaster@example.org alice@example.org"), 0)
	// The command given fixes it.
	expect(t, "", append(c, "alias", "add", "postmaster@example.org", "alice@example.org"), "alias postmaster@example.org -> alice@example.org added\n", "", 0)
	expect(t, "", append(c, "config", "check"), listing, "", 0)

	// Deleting the postmaster user.
	expect(t, "", append(c, "user", "del", "postmaster@example.net"), "user postmaster@example.net deleted; their stored mail was not removed\n",
		lost("postmaster@example.net", "mailsuite alias add postmaster@example.net carol@example.net"), 0)
	expect(t, "", append(c, "config", "check"), listing,
		noPostmaster("postmaster@example.net", "mailsuite alias add postmaster@example.net carol@example.net"), 0)
	expect(t, "", append(c, "alias", "add", "postmaster@example.net", "carol@example.net"), "alias postmaster@example.net -> carol@example.net added\n", "", 0)

	// Deleting the user a postmaster alias reaches: the alias is cut off
	// too. The fix names a user of another domain when its own has none.
	expect(t, "", append(c, "user", "del", "alice@example.org"),
		"user alice@example.org deleted; their stored mail was not removed\nnote: these aliases still list alice@example.org: postmaster@example.org\n",
		lost("postmaster@example.org", "mailsuite alias add postmaster@example.org carol@example.net"), 0)

	// A delete that leaves every postmaster reaching someone says nothing.
	expect(t, "", append(c, "alias", "del", "postmaster@example.org"), "alias postmaster@example.org deleted\n", "", 0)
	expect(t, "long enough\n", append(c, "user", "add", "dave@example.org"), "user dave@example.org added\n", "", 0)
	expect(t, "", append(c, "user", "del", "dave@example.org"), "user dave@example.org deleted; their stored mail was not removed\n", "", 0)
	expect(t, "", append(c, "config", "check"), listing,
		noPostmaster("postmaster@example.org", "mailsuite alias add postmaster@example.org carol@example.net"), 0)
}

// config check writes nothing: no data_dir, no users file, nothing in
// the working directory. The user commands create data_dir (they write
// users.db there).
func TestConfigCheckWritesNothing(t *testing.T) {
	cfg, dataDir := cliConfig(t, "")
	cfgDir := filepath.Dir(cfg)
	expect(t, "", []string{"config", "check", "--config", cfg},
		"smtp         127.0.0.1:1025           STARTTLS\nimap         127.0.0.1:1143           STARTTLS\nconfig OK: "+cfg+"\n",
		noPostmaster("postmaster@example.org", "mailsuite user add postmaster@example.org")+
			noPostmaster("postmaster@example.net", "mailsuite user add postmaster@example.net"), 0)
	if ents, _ := os.ReadDir(cfgDir); len(ents) != 1 || ents[0].Name() != "mailsuite.toml" {
		t.Errorf("config check wrote in %s: %v", cfgDir, ents)
	}
	// With a data_dir that exists, nothing is written in it either.
	expect(t, "", []string{"user", "list", "--config", cfg}, "", "", 0)
	before, _ := os.ReadDir(dataDir)
	out, _, code := cli(t, "", "config", "check", "--config", cfg)
	after, _ := os.ReadDir(dataDir)
	if code != 0 || !strings.HasSuffix(out, "config OK: "+cfg+"\n") || len(after) != len(before) {
		t.Errorf("config check on an existing data_dir: exit %d, %v then %v", code, before, after)
	}

	// Development defaults: ./data is not made.
	work := t.TempDir()
	t.Chdir(work)
	if _, _, code := cli(t, "", "config", "check"); code != 0 {
		t.Fatalf("config check on development defaults: exit %d", code)
	}
	if ents, _ := os.ReadDir(work); len(ents) != 0 {
		t.Errorf("config check wrote in the working directory: %v", ents)
	}
	// A user command makes it.
	expect(t, "long enough\n", []string{"user", "add", "dev@localhost"}, "user dev@localhost added\n", "", 0)
	if _, err := os.Stat(filepath.Join(work, "data", "users.db")); err != nil {
		t.Errorf("user add did not make ./data/users.db: %v", err)
	}
}

// A data_dir that cannot be made is refused by config check and by serve,
// both naming data_dir; nothing is created on the way.
func TestDataDirCannotBeMade(t *testing.T) {
	t.Setenv(config.EnvVar, "")
	dir := t.TempDir()
	file := filepath.Join(dir, "a-file")
	os.WriteFile(file, []byte("x"), 0o600)
	cfg := filepath.Join(dir, "mailsuite.toml")
	os.WriteFile(cfg, []byte("hostname = \"mail.example.org\"\ndomains = [\"example.org\"]\ndata_dir = \"a-file/data\"\n[listen]\nimap = \"127.0.0.1:1143\"\n"), 0o600)
	want := "mailsuite: " + cfg + ":3: data_dir: cannot create \"" + filepath.Join(file, "data") + "\": not a directory\n" +
		"mailsuite: the config has 1 problem; fix it and run 'mailsuite config check'\n"
	for _, args := range [][]string{{"config", "check"}, {"serve"}, {"user", "list"}} {
		expect(t, "", append(args, "--config", cfg), "", want, 1)
	}

	// Where the kernel's permission check passes but mkdir fails (sysfs,
	// as root), config check cannot know; serve then fails on its own
	// mkdir, still naming data_dir. (As another user, the check catches
	// it first.)
	if fi, err := os.Stat("/sys/kernel"); err != nil || !fi.IsDir() {
		t.Skip("no /sys/kernel")
	}
	sys := "/sys/kernel/mailsuite-test/data"
	os.WriteFile(cfg, []byte("hostname = \"mail.example.org\"\ndomains = [\"example.org\"]\ndata_dir = \""+sys+"\"\n[listen]\nimap = \""+freePort(t)+"\"\n[log]\nlevel = \"error\"\n"), 0o600)
	_, errOut, code := cli(t, "", "serve", "--config", cfg)
	if code != 1 || !strings.HasPrefix(errOut, "mailsuite: ") || !strings.Contains(errOut, "data_dir") || !strings.Contains(errOut, `/sys/kernel/mailsuite-test`) {
		t.Errorf("serve with data_dir %s: exit %d\n%s", sys, code, errOut)
	}
	if _, err := os.Stat("/sys/kernel/mailsuite-test"); err == nil {
		t.Error("something made /sys/kernel/mailsuite-test")
	}
}

// serve makes data_dir itself, now that config check (and the check serve
// runs first) leave it alone.
func TestServeCreatesDataDir(t *testing.T) {
	in := newInstance(t, "")
	in.mustRun("", "config", "check", "--config", in.config)
	if _, err := os.Stat(in.dataDir); err == nil {
		t.Fatal("config check made data_dir")
	}
	in.start()
	in.waitLog("mailsuite ready")
	if fi, err := os.Stat(in.dataDir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("data_dir after serve: %v, %v", fi, err)
	}
	if err := in.stop(); err != nil {
		t.Errorf("serve: %v", err)
	}
}
