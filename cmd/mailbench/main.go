// Command mailbench is a load tool that drives a running mail server over
// the wire (SMTP or LMTP, IMAP, POP3) on loopback only and prints one
// "name value unit" line per figure on standard output. It measures any
// server that speaks the protocols: mailsuite, and Postfix and Dovecot as
// the side-by-side script (sidebyside.sh) starts them.
//
// It owns the workloads and their figures. It does not own starting,
// stopping or restarting servers (the caller does that, and passes the
// server's pid for memory figures), and it never reads a server's private
// state: every check goes through the protocol, or through the Maildir
// files the server itself wrote when -maildir is given.
//
// Every loop is bounded in count (-n, -idle-n, -repeat) and in time
// (-timeout per workload, -duration for the mixed workload); every
// connection gets a deadline at the end of its workload's time.
//
//	mailbench [flags] WORKLOAD...
//	mailbench table RESULTS-FILE
//
// Workloads: smtp1 smtpn append fill-maildir select-first select fetch
// search expunge mixed idle pop3 disk (see usage).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// workload is one named measurement.
type workload struct {
	name string
	help string
	run  func(ctx context.Context, o *options, r *reporter) error
}

// workloads lists every workload in the order usage shows them.
var workloads = []workload{
	{"smtp1", "N messages over C sessions, one message per connection; then checks all N are stored", runSMTPOne},
	{"smtpn", "N messages over C sessions, many messages per connection (-per-conn, default N/C); then checks the store", runSMTPMany},
	{"append", "fill -mailbox with N messages by IMAP APPEND over C sessions", runAppend},
	{"fill-maildir", "fill the Maildir at -maildir with N message files directly (no server involved)", runFillMaildir},
	{"select-first", "one LOGIN + SELECT + UID FETCH 1:* (UID FLAGS), timed once (run it right after a restart)", runSelectFirst},
	{"select", "LOGIN + SELECT + UID FETCH 1:* (UID FLAGS), one warm-up then -repeat timed runs (median)", runSelectWarm},
	{"fetch", "FETCH 1:* (BODY.PEEK[]) of every message in -mailbox, MB/s (median of -repeat)", runFetch},
	{"search", "UID SEARCH UNSEEN, HEADER Subject <word>, BODY <word> (median of -repeat each)", runSearch},
	{"expunge", "STORE +FLAGS.SILENT (\\Deleted) on the last -expunge-n messages, then EXPUNGE, each timed", runExpunge},
	{"mixed", "C clients for -duration: FETCH headers, FETCH a body, STORE, APPEND, EXPUNGE; cmds/s, p50, p99", runMixed},
	{"idle", "-idle-n sessions in IDLE: server memory per session from /proc/-pid, time until all see a delivery", runIdle},
	{"pop3", "POP3 RETR of every message, MB/s (median of -repeat)", runPOP3},
	{"disk", "raw Maildir pattern (write tmp, fsync, rename, fsync dir) in -disk-dir with -disk-writers writers", runDisk},
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "usage: mailbench [flags] WORKLOAD...\n       mailbench table RESULTS-FILE   (Markdown tables from sidebyside.sh's results)\n\nworkloads:\n")
	for _, wl := range workloads {
		fmt.Fprintf(w, "  %-13s %s\n", wl.name, wl.help)
	}
	fmt.Fprintf(w, "\nOutput: one \"name value unit\" line per figure on stdout; progress and errors on stderr.\n"+
		"A workload that fails a check (missing messages, command errors, wrong counts) makes the exit status 1.\n\nflags:\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// errCheck marks a workload whose figures were printed but whose checks
// failed (for example messages missing from the store).
var errCheck = errors.New("check failed")

// run is main without the process: it parses args, runs each workload in
// turn and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "table" {
		return runTableMode(args[1:], stdout, stderr)
	}
	o, names, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "mailbench: %v\n", err)
		return 2
	}
	r := newReporter(stdout, o.tag)
	status := 0
	for _, name := range names {
		wl := findWorkload(name)
		wctx, cancel := context.WithTimeout(ctx, o.timeout)
		r.workload = wl.name
		start := time.Now()
		err := wl.run(wctx, o, r)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "mailbench: %s: %v\n", wl.name, err)
			status = 1
			continue
		}
		o.logf("%s done in %s", wl.name, time.Since(start).Round(time.Millisecond))
	}
	return status
}

func findWorkload(name string) *workload {
	for i := range workloads {
		if workloads[i].name == name {
			return &workloads[i]
		}
	}
	return nil
}

// parseFlags reads the flags and the workload names and validates them.
func parseFlags(args []string, stderr io.Writer) (*options, []string, error) {
	fs := flag.NewFlagSet("mailbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := defineFlags(fs)
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, stderr)
		}
		return nil, nil, err
	}
	names := fs.Args()
	if len(names) == 0 {
		usage(fs, stderr)
		return nil, nil, errors.New("no workload given")
	}
	var unknown []string
	for _, n := range names {
		if findWorkload(n) == nil {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return nil, nil, fmt.Errorf("unknown workload %s", strings.Join(unknown, ", "))
	}
	o.stderr = &syncWriter{w: stderr}
	if err := o.validate(); err != nil {
		return nil, nil, err
	}
	return o, names, nil
}
