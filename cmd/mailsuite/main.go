// Command mailsuite is a complete mail server in one binary: `serve` runs
// SMTP (MX and submission), IMAP and POP3 over one Maildir store; the other
// sub-commands manage users and aliases (also while a server runs) and
// check the config.
//
// This file parses the command line and dispatches; each sub-command group
// has its own file (user.go, alias.go, configcmd.go; serve.go for serve).
// Protocol and storage logic live in their packages, not here.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/mailsuite/mailsuite/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // the command line was wrong
)

const usageText = `mailsuite: a complete mail server in one binary

Usage:
  mailsuite [--config FILE] COMMAND [ARGUMENTS]

Commands:
  serve                       run the server (SMTP, submission, IMAP, POP3)
  user add ADDRESS            add a user (password: see below)
  user del ADDRESS            delete a user (their stored mail is kept)
  user passwd ADDRESS         change a user's password
  user list                   list the users
  alias add ALIAS TARGET...   add an alias that delivers to one or more addresses
  alias del ALIAS             delete an alias
  alias list                  list the aliases and their targets
  config check                check the config and show where each service listens
  queue list                  list the messages waiting for delivery to other domains
  queue show ID               show one queued message: recipients, attempts, errors, header
  queue retry [ID|all]        try a message (or all) again now
  queue delete ID             drop a message from the queue without telling its sender
  dkim keygen DOMAIN          make DKIM signing keys for DOMAIN and print its DNS records
  help                        show this help

The config file is --config FILE (before or after the command, or
--config=FILE), else $MAILSUITE_CONFIG, else ./mailsuite.toml. With none,
development defaults apply: data in ./data, domain "localhost", services
on 127.0.0.1 at ports 2525, 2587, 2465, 2143, 2993, 2110 and 2995.
See mailsuite.example.toml for every setting.

Passwords are asked twice, without echo, on a terminal; otherwise the first
line of standard input is the password:
  mailsuite user add alice@example.org < password-file
A password has at least 8 characters and is not all spaces.

Each domain needs a postmaster (RFC 5321): make postmaster@DOMAIN a user or
an alias; config check warns when one reaches nobody.

User and alias commands work while the server runs; it sees the change at
once.
`

// invocation is a parsed command line.
type invocation struct {
	configPath string   // --config, or ""
	help       bool     // -h, --help, or the help command
	words      []string // the command, its sub-command and arguments
}

// usageError is a command-line mistake: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// parseArgs takes --config (anywhere, as "--config F" or "--config=F", one
// or two dashes) and -h/--help out of args; the rest are words. "--" ends
// the options.
func parseArgs(args []string) (invocation, error) {
	var inv invocation
	configSet := false
	setConfig := func(v string) error {
		if configSet {
			return usagef("--config is given twice")
		}
		if v == "" {
			return usagef("--config needs a file name")
		}
		inv.configPath, configSet = v, true
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			inv.words = append(inv.words, args[i+1:]...)
			return inv, nil
		case a == "--config" || a == "-config":
			if i+1 >= len(args) {
				return inv, usagef("--config needs a file name")
			}
			i++
			if err := setConfig(args[i]); err != nil {
				return inv, err
			}
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
			if err := setConfig(a[strings.IndexByte(a, '=')+1:]); err != nil {
				return inv, err
			}
		case a == "-h" || a == "--help" || a == "-help":
			inv.help = true
		case len(a) > 1 && a[0] == '-':
			return inv, usagef("unknown option %q", a)
		default:
			inv.words = append(inv.words, a)
		}
	}
	if len(inv.words) > 0 && inv.words[0] == "help" {
		inv.help = true
	}
	return inv, nil
}

// run is the whole program, minus os.Exit, so that tests can call it.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	inv, err := parseArgs(args)
	if err == nil && inv.help {
		fmt.Fprint(stdout, usageText)
		return exitOK
	}
	if err == nil && len(inv.words) == 0 {
		err = usagef("no command given")
	}
	if err == nil {
		err = dispatch(inv, stdin, stdout, stderr)
	}
	return report(err, stderr)
}

// report prints err on stderr, one problem a line, and picks the exit
// status.
func report(err error, stderr io.Writer) int {
	var ue usageError
	var ce *config.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mailsuite: %s; run 'mailsuite help' for usage\n", ue.msg)
		return exitUsage
	case errors.As(err, &ce):
		for _, p := range ce.Problems {
			fmt.Fprintf(stderr, "mailsuite: %s\n", p)
		}
		if n := len(ce.Problems); n == 1 {
			fmt.Fprintln(stderr, "mailsuite: the config has 1 problem; fix it and run 'mailsuite config check'")
		} else {
			fmt.Fprintf(stderr, "mailsuite: the config has %d problems; fix them and run 'mailsuite config check'\n", n)
		}
		return exitError
	default:
		fmt.Fprintf(stderr, "mailsuite: %s\n", err)
		return exitError
	}
}

// dispatch runs the command named by inv.words.
func dispatch(inv invocation, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd, rest := inv.words[0], inv.words[1:]
	switch cmd {
	case "user", "alias", "queue", "dkim":
		// Run as root, these write in data_dir as [server] user
		// (privileges.go).
		if err := adminAs(inv); err != nil {
			return err
		}
	}
	switch cmd {
	case "serve":
		if len(rest) > 0 {
			return usagef("serve takes no arguments, got %q", strings.Join(rest, " "))
		}
		return serve(inv, stderr)
	case "user":
		return userCommand(inv, rest, stdin, stdout, stderr)
	case "alias":
		return aliasCommand(inv, rest, stdout, stderr)
	case "config":
		return configCommand(inv, rest, stdout, stderr)
	case "queue":
		return queueCommand(inv, rest, stdout) // queuecmd.go
	case "dkim":
		return dkimCommand(inv, rest, stdout) // dkimcmd.go
	}
	return usagef("unknown command %q", cmd)
}

// subcommand splits "add X Y" and checks the argument count.
func subcommand(group string, rest []string, subs map[string][2]int) (string, []string, error) {
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(rest) == 0 {
		return "", nil, usagef("%s needs a sub-command: %s", group, strings.Join(names, ", "))
	}
	sub, args := rest[0], rest[1:]
	limits, ok := subs[sub]
	if !ok {
		return "", nil, usagef("unknown sub-command %q for %s (known: %s)", sub, group, strings.Join(names, ", "))
	}
	minArgs, maxArgs := limits[0], limits[1]
	if len(args) < minArgs {
		return "", nil, usagef("%s %s needs %s", group, sub, argNames[group+" "+sub])
	}
	if maxArgs >= 0 && len(args) > maxArgs {
		return "", nil, usagef("too many arguments for %s %s: %q", group, sub, strings.Join(args[maxArgs:], " "))
	}
	return sub, args, nil
}

// argNames says what each sub-command's arguments are, for messages.
var argNames = map[string]string{
	"user add":     "an ADDRESS",
	"user del":     "an ADDRESS",
	"user passwd":  "an ADDRESS",
	"alias add":    "an ALIAS and at least one TARGET",
	"alias del":    "an ALIAS",
	"queue show":   "a queue ID (see mailsuite queue list)",
	"queue delete": "a queue ID (see mailsuite queue list)",
	"dkim keygen":  "a DOMAIN",
}

// loadConfig finds, loads and validates the config. path is "" for the
// development defaults.
func loadConfig(inv invocation) (cfg *config.Config, path string, err error) {
	path, _, err = config.Resolve(inv.configPath)
	if err != nil {
		return nil, "", err
	}
	if path == "" {
		cfg = config.Dev()
	} else if cfg, err = config.Load(path); err != nil {
		return nil, path, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, path, err
	}
	return cfg, path, nil
}

// serve loads the config, sets up the log and hands over to runServe
// (serve.go), which handles signals itself.
func serve(inv invocation, stderr io.Writer) error {
	cfg, path, err := loadConfig(inv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.Log, stderr)
	if cfg.Log.DebugProtocol {
		logger.Warn("log.debug_protocol is on: the log shows raw protocol traffic, which may include passwords and message contents; turn it off when done")
	}
	if err := runServe(context.Background(), cfg, path, logger); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// newLogger makes the server's logger on w from the [log] settings (which
// Validate has checked).
func newLogger(l config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(l.Level)) // debug, info, warn, error: all parse
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// cliLogger is the log of the admin commands: warnings and errors only, so
// that their output stays their own.
func cliLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
