package queue

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// warnDueLocked reports whether e's sender should now get the one delay
// warning. e.mu is held.
func (q *Queue) warnDueLocked(e *entry, now time.Time) bool {
	rec := e.rec
	if q.opts.DelayWarning <= 0 || rec.Warned || now.Sub(rec.Created) < q.opts.DelayWarning {
		return false
	}
	for i := range rec.Rcpts {
		if rec.Rcpts[i].Status == StatusQueued {
			return true
		}
	}
	return false
}

// notifyLocked tells the sender of what is due: a DSN for recipients that
// failed and were not yet reported, and the delay warning when it is due.
// The record is saved afterwards (removing the message if nothing is left
// to do). It reports whether a notification could not be delivered and
// must be tried again. e.mu is held; the work is local disk I/O only.
//
// RFC 5321 §6.1 and RFC 3464 §2: no notification is ever sent for a
// message with the null sender (it would be a bounce of a bounce), nor
// when no authenticated user submitted it.
func (q *Queue) notifyLocked(e *entry, now time.Time) (pending bool) {
	rec := e.rec
	var failed []int
	for i := range rec.Rcpts {
		if r := &rec.Rcpts[i]; r.Status == StatusFailed && !r.Notified {
			failed = append(failed, i)
		}
	}
	warn := q.warnDueLocked(e, now)
	if len(failed) == 0 && !warn {
		return false
	}
	if rec.From == "" || rec.User == "" {
		for _, i := range failed {
			rec.Rcpts[i].Notified = true
			q.log.Info("failure not reported: null sender or no local user", "id", rec.ID, "rcpt", rec.Rcpts[i].Addr)
		}
		rec.Warned = rec.Warned || warn
	} else {
		if len(failed) > 0 {
			if err := q.sendDSN(rec, failed, false, now); err != nil {
				q.log.Error("cannot deliver the failure notice; will try again", "id", rec.ID, "user", rec.User, "err", err)
				pending = true
			} else {
				for _, i := range failed {
					rec.Rcpts[i].Notified = true
				}
				q.log.Info("failure notice delivered", "id", rec.ID, "user", rec.User, "rcpts", len(failed))
			}
		}
		if warn {
			var queued []int
			for i := range rec.Rcpts {
				if rec.Rcpts[i].Status == StatusQueued {
					queued = append(queued, i)
				}
			}
			if err := q.sendDSN(rec, queued, true, now); err != nil {
				// Tried again after the next failed attempt.
				q.log.Error("cannot deliver the delay warning", "id", rec.ID, "user", rec.User, "err", err)
			} else {
				rec.Warned = true
				q.log.Info("delay warning delivered", "id", rec.ID, "user", rec.User, "rcpts", len(queued))
			}
		}
	}
	if err := q.saveLocked(e); err != nil {
		q.log.Error("cannot save queue entry", "id", e.id, "err", err)
	}
	return pending
}

// sendDSN builds the notification about the recipients idx of rec and
// delivers it into the INBOX of the user who submitted the message.
func (q *Queue) sendDSN(rec *Record, idx []int, delayed bool, now time.Time) error {
	d := &dsnReport{
		Hostname:  q.opts.Hostname,
		ID:        rec.ID,
		Sender:    rec.From,
		Arrival:   rec.Created,
		Date:      now,
		Delayed:   delayed,
		UTF8:      rec.UTF8,
		Boundary:  "=_" + randomID(24),
		MessageID: strings.ToLower(randomID(16)) + "." + rec.ID + "@" + asciiField(q.opts.Hostname),
	}
	if f, err := os.Open(filepath.Join(q.mailDir, rec.ID+".msg")); err == nil {
		d.Headers = readHeaderSection(f, maxDSNHeaders, d.Boundary)
		f.Close()
	}
	until := rec.Created.Add(q.opts.Lifetime)
	for _, i := range idx {
		r := &rec.Rcpts[i]
		dr := dsnRcpt{Addr: r.Addr, Action: "failed", Status: r.Code, Remote: r.Remote,
			Reply: r.Reply, Text: r.Error, Last: r.Last}
		if delayed {
			dr.Action, dr.Until = "delayed", until
		}
		if !validStatusCode(dr.Status) || dr.Status[0] == '2' {
			dr.Status = "5.0.0"
			if delayed {
				dr.Status = "4.0.0"
			}
		}
		if dr.Text == "" {
			dr.Text = "delivery failed"
		}
		d.Rcpts = append(d.Rcpts, dr)
	}
	var b bytes.Buffer
	// RFC 5321 §4.4: the final delivery records the (null) reverse-path.
	b.WriteString("Return-Path: <>\r\n")
	if _, err := d.WriteTo(&b); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return q.opts.Store.Deliver(ctx, []string{rec.User}, &b)
}
