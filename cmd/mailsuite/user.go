package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mailsuite/mailsuite/config"
	"github.com/mailsuite/mailsuite/mailbox"
	"github.com/mailsuite/mailsuite/users"
)

// openUsers opens the users database the config names (data_dir/users.db).
// It shares the file safely with a running server and other commands. Only
// a command that adds (create) makes a missing data_dir and database; the
// others read a missing one as empty, so that a mistyped --config or a
// command run in the wrong directory leaves no stray data directory behind.
func openUsers(cfg *config.Config, create bool, stderr io.Writer) (*users.FileDB, error) {
	return users.OpenFile(cfg.UsersFile(), users.FileOptions{
		Domains:   cfg.Domains,
		Delimiter: cfg.RecipientDelimiter,
		Logger:    cliLogger(stderr),
		NoCreate:  !create,
	})
}

// adminSession is what every user and alias command starts from.
type adminSession struct {
	cfg  *config.Config
	path string // config file, "" for development defaults
	db   *users.FileDB
}

func openAdmin(inv invocation, create bool, stderr io.Writer) (*adminSession, error) {
	cfg, path, err := loadConfig(inv)
	if err != nil {
		return nil, err
	}
	db, err := openUsers(cfg, create, stderr)
	if err != nil {
		return nil, err
	}
	return &adminSession{cfg: cfg, path: path, db: db}, nil
}

func userCommand(inv invocation, rest []string, stdin io.Reader, stdout, stderr io.Writer) error {
	sub, args, err := subcommand("user", rest, map[string][2]int{
		"add": {1, 1}, "del": {1, 1}, "passwd": {1, 1}, "list": {0, 0},
	})
	if err != nil {
		return err
	}
	s, err := openAdmin(inv, sub == "add", stderr)
	if err != nil {
		return err
	}
	switch sub {
	case "add":
		return s.userAdd(args[0], stdin, stdout, stderr)
	case "del":
		return s.userDel(args[0], stdout, stderr)
	case "passwd":
		return s.userPasswd(args[0], stdin, stdout, stderr)
	default: // list
		list, err := s.db.ListUsers()
		if err != nil {
			return err
		}
		for _, u := range list {
			fmt.Fprintln(stdout, u)
		}
		return nil
	}
}

func (s *adminSession) userAdd(addr string, stdin io.Reader, stdout, stderr io.Writer) error {
	// Refuse a bad or taken address before asking for a password.
	c, err := s.db.CheckNewAddress(addr)
	if err != nil {
		return s.explain(err, addr)
	}
	pw, err := readNewPassword(c, stdin, stderr)
	if err != nil {
		return err
	}
	if err := checkChosenPassword(pw); err != nil {
		return err
	}
	if err := s.db.AddUser(c, pw); err != nil {
		return s.explain(err, addr)
	}
	fmt.Fprintf(stdout, "user %s added\n", c)
	if dir := s.storedMail(c); dir != "" {
		fmt.Fprintf(stderr, "mailsuite: warning: %s already holds mail of an earlier account with this address, and %s now sees it; "+
			"if it should not, stop the server, move that directory away (mv %s %s.old), and start the server again\n", dir, c, dir, dir)
	}
	return nil
}

// storedMail is the directory of addr's mail when it exists, else "".
func (s *adminSession) storedMail(addr string) string {
	dir, err := mailbox.UserDir(filepath.Join(s.cfg.DataDir, "mail"), addr)
	if err != nil {
		return ""
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return ""
	}
	return dir
}

func (s *adminSession) userDel(addr string, stdout, stderr io.Writer) error {
	reached := s.postmastersReached()
	if err := s.db.DeleteUser(addr); err != nil {
		return s.explain(err, addr)
	}
	lower := strings.ToLower(addr)
	fmt.Fprintf(stdout, "user %s deleted; their stored mail was not removed\n", lower)
	if dir := s.storedMail(lower); dir != "" {
		fmt.Fprintf(stdout, "note: their mail stays in %s; a user added later with this address would see it, so unless the address is to be given back to them, stop the server, remove it (rm -r %s), and start the server again\n", dir, dir)
	}
	s.noteAliasesListing(lower, stdout)
	s.warnPostmastersLost(reached, stderr)
	return nil
}

// noteAliasesListing says which aliases still list addr (just deleted),
// directly or by a subaddress of it: they now skip it.
func (s *adminSession) noteAliasesListing(addr string, stdout io.Writer) {
	aliases, err := s.db.ListAliases()
	if err != nil {
		return
	}
	local, domain, _ := strings.Cut(addr, "@")
	names := func(t string) bool {
		t = strings.ToLower(t)
		if t == addr {
			return true
		}
		tl, td, _ := strings.Cut(t, "@")
		base, _, sub := strings.Cut(tl, s.cfg.RecipientDelimiter)
		return sub && base == local && td == domain
	}
	var still []string
	for _, a := range aliases {
		if slices.ContainsFunc(a.Targets, names) {
			still = append(still, a.Address)
		}
	}
	if len(still) > 0 {
		fmt.Fprintf(stdout, "note: these aliases still list %s: %s\n", addr, strings.Join(still, ", "))
	}
}

func (s *adminSession) userPasswd(addr string, stdin io.Reader, stdout, stderr io.Writer) error {
	// Refuse an unknown user before asking for a password.
	if !s.isUser(strings.ToLower(addr)) {
		return s.explain(users.ErrNoUser, addr)
	}
	pw, err := readNewPassword(addr, stdin, stderr)
	if err != nil {
		return err
	}
	if err := checkChosenPassword(pw); err != nil {
		return err
	}
	if err := s.db.SetPassword(addr, pw); err != nil {
		return s.explain(err, addr)
	}
	fmt.Fprintf(stdout, "password of %s changed\n", strings.ToLower(addr))
	return nil
}

// explain turns a users error into one line that says what to do.
func (s *adminSession) explain(err error, addr string) error {
	lower := strings.ToLower(addr)
	switch {
	case errors.Is(err, users.ErrExists):
		if s.isAlias(lower) {
			return fmt.Errorf("%s is already an alias; remove it first with: mailsuite alias del %s", lower, lower)
		}
		return fmt.Errorf("%s already exists; to change its password run: mailsuite user passwd %s", lower, lower)
	case errors.Is(err, users.ErrNotLocal):
		domain := lower[strings.LastIndexByte(lower, '@')+1:]
		where := "in " + s.path
		if s.path == "" {
			where = "in a config file (there is none: development defaults apply; see mailsuite.example.toml)"
		}
		return fmt.Errorf("%s is not one of this server's domains (%s); add it to domains %s first",
			domain, strings.Join(s.cfg.Domains, ", "), where)
	case errors.Is(err, users.ErrNoUser):
		if s.isAlias(lower) {
			return fmt.Errorf("%s is an alias, not a user; see mailsuite alias list", lower)
		}
		return fmt.Errorf("there is no user %s; see mailsuite user list", lower)
	case errors.Is(err, users.ErrBadPassword):
		return fmt.Errorf("%s %s", strings.TrimPrefix(err.Error(), "users: "), passwordRule)
	}
	return errors.New(strings.TrimPrefix(err.Error(), "users: "))
}

func (s *adminSession) isUser(addr string) bool {
	list, err := s.db.ListUsers()
	return err == nil && slices.Contains(list, addr)
}

func (s *adminSession) isAlias(addr string) bool {
	aliases, err := s.db.ListAliases()
	if err != nil {
		return false
	}
	for _, a := range aliases {
		if a.Address == addr {
			return true
		}
	}
	return false
}
