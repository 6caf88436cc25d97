package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mailsuite/mailsuite/smtpd/queue"
)

// requestTimeout is how long `queue retry|delete` waits for a running
// server to answer.
const requestTimeout = 15 * time.Second

// queueCommand runs `queue list|show|retry|delete`. list and show read
// the queue directory (safe while a server runs); retry and delete go to
// the running server through the queue's control directory, or act on the
// files directly when no server holds data_dir.
func queueCommand(inv invocation, rest []string, stdout io.Writer) error {
	sub, args, err := subcommand("queue", rest, map[string][2]int{
		"list": {0, 0}, "show": {1, 1}, "retry": {0, 1}, "delete": {1, 1},
	})
	if err != nil {
		return err
	}
	cfg, _, err := loadConfig(inv)
	if err != nil {
		return err
	}
	dir := queueDir(cfg)
	switch sub {
	case "list":
		return queueList(dir, stdout)
	case "show":
		return queueShow(dir, args[0], stdout)
	}
	target := "all"
	if len(args) == 1 {
		target = args[0]
	}
	if sub == "delete" && strings.EqualFold(target, "all") {
		return usagef("queue delete takes one queue id (deleting everything at once is not offered)")
	}
	if target != "all" {
		target = strings.ToUpper(target)
	}
	if _, err := os.Stat(filepath.Join(dir, "mail")); errors.Is(err, os.ErrNotExist) {
		if target == "all" {
			fmt.Fprintln(stdout, "The queue is empty.")
			return nil
		}
		return fmt.Errorf("%s is not in the queue", target)
	}
	unlock, running, err := tryLockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	if running {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		ans, err := queue.Request(ctx, dir, sub, target)
		if err != nil {
			return queueErr(err, target)
		}
		fmt.Fprintln(stdout, ans)
		return nil
	}
	defer unlock()
	switch sub {
	case "retry":
		n, err := queue.RetryOffline(dir, target)
		if err != nil {
			return queueErr(err, target)
		}
		fmt.Fprintf(stdout, "%d message(s) will be tried as soon as the server starts\n", n)
	case "delete":
		if err := queue.DeleteOffline(dir, target); err != nil {
			return queueErr(err, target)
		}
		fmt.Fprintf(stdout, "deleted %s\n", target)
	}
	return nil
}

func queueErr(err error, id string) error {
	if errors.Is(err, queue.ErrNotQueued) {
		return fmt.Errorf("%s is not in the queue", id)
	}
	if errors.Is(err, queue.ErrNoServer) {
		return fmt.Errorf("the running server did not answer within %s; is it stuck? (%w)", requestTimeout, err)
	}
	return err
}

// tryLockDataDir takes the lock `serve` holds, without waiting. running
// reports that a server holds it.
func tryLockDataDir(dir string) (unlock func(), running bool, err error) {
	f, err := os.OpenFile(filepath.Join(dir, "serve.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("data_dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("data_dir %s: lock: %w", dir, err)
	}
	return func() { f.Close() }, false, nil
}

// queueList prints one line per queued message: id, sender, recipients
// still to do, attempts, next try and last error.
func queueList(dir string, stdout io.Writer) error {
	recs, err := queue.List(dir)
	if len(recs) == 0 {
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "The queue is empty.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSENDER\tRECIPIENTS\tATTEMPTS\tNEXT TRY\tLAST ERROR")
	now := time.Now()
	for _, r := range recs {
		rcpts, attempts, next, lastErr := r.Pending()
		who := strings.Join(rcpts, ",")
		if len(rcpts) > 2 {
			who = fmt.Sprintf("%s,%s (+%d)", rcpts[0], rcpts[1], len(rcpts)-2)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.ID, sender(r.From), who, attempts, nextTry(next, now, len(rcpts) > 0), orDash(lastErr))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d message(s) in the queue\n", len(recs))
	return err
}

func sender(from string) string {
	if from == "" {
		return "<>"
	}
	return from
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// nextTry shows when a message is tried next.
func nextTry(next, now time.Time, pending bool) string {
	switch {
	case !pending:
		return "-"
	case next.IsZero() || !next.After(now):
		return "now"
	}
	return next.Local().Format("2006-01-02 15:04:05") + " (in " + next.Sub(now).Round(time.Second).String() + ")"
}

// queueShow prints everything the queue knows of one message.
func queueShow(dir, id string, stdout io.Writer) error {
	id = strings.ToUpper(id)
	rec, hdr, err := queue.Read(dir, id)
	if err != nil {
		return queueErr(err, id)
	}
	now := time.Now()
	fmt.Fprintf(stdout, "id:        %s\n", rec.ID)
	fmt.Fprintf(stdout, "sender:    %s\n", sender(rec.From))
	fmt.Fprintf(stdout, "user:      %s\n", orDash(rec.User))
	fmt.Fprintf(stdout, "queued:    %s (%s ago)\n", rec.Created.Local().Format(time.RFC1123Z), now.Sub(rec.Created).Round(time.Second))
	fmt.Fprintf(stdout, "size:      %d octets\n", rec.Size)
	fmt.Fprintf(stdout, "dkim:      %d signature(s)\n", len(rec.DKIM))
	for _, r := range rec.Rcpts {
		fmt.Fprintf(stdout, "\nrecipient: %s\n", r.Addr)
		status := string(r.Status)
		if r.Status == queue.StatusFailed && r.Notified {
			status += " (sender notified)"
		}
		fmt.Fprintf(stdout, "  status:   %s\n", status)
		fmt.Fprintf(stdout, "  attempts: %d\n", r.Attempts)
		if !r.Last.IsZero() {
			fmt.Fprintf(stdout, "  last try: %s\n", r.Last.Local().Format(time.RFC1123Z))
		}
		if r.Status == queue.StatusQueued {
			fmt.Fprintf(stdout, "  next try: %s\n", nextTry(r.Next, now, true))
		}
		if r.Remote != "" {
			fmt.Fprintf(stdout, "  host:     %s (%s)\n", r.Remote, orDash(r.TLS))
		}
		if r.Error != "" {
			fmt.Fprintf(stdout, "  error:    %s\n", r.Error)
		}
	}
	fmt.Fprintf(stdout, "\nheader:\n%s", strings.ReplaceAll(string(hdr), "\r\n", "\n"))
	return nil
}
