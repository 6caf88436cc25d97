package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// idleSession is one client sitting in IDLE (RFC 2177; RFC 9051 §6.3.13).
type idleSession struct {
	c       *imapclient.Client
	idle    *imapclient.IdleCommand
	initial atomic.Uint32
	armed   atomic.Bool
	once    sync.Once
	seen    chan struct{}
	seenAt  time.Time
}

// onMailbox takes unsolicited mailbox data: the first EXISTS above the
// count SELECT gave, once armed, is the delivery being announced.
func (s *idleSession) onMailbox(d *imapclient.UnilateralDataMailbox) {
	if d.NumMessages == nil || !s.armed.Load() || *d.NumMessages <= s.initial.Load() {
		return
	}
	s.once.Do(func() {
		s.seenAt = time.Now()
		close(s.seen)
	})
}

// runIdle opens -idle-n sessions (-c at a time) that each SELECT -mailbox
// and enter IDLE, measures the server's memory (-pid and its descendants)
// before and after, then delivers one message to -rcpt over SMTP or LMTP
// and times how long until every session has been told of it.
//
// Figures: memory per session (Pss and Rss growth divided by the sessions;
// "marginal" is the growth over the second half of the sessions only), and
// the notice latency (p50, max) counted from the start of the delivery's
// SMTP transaction, which is itself reported as deliver_ms.
//
// For a garbage-collected server such as mailsuite, /proc shows what the
// process holds from the system, not what its sessions hold: heap freed
// after the warm-up's logins may be reused by the sessions (the figure
// reads low) and garbage not yet collected counts (it reads high). The
// server's own heap profile is the finer measure.
func runIdle(ctx context.Context, o *options, r *reporter) error {
	sessions := make([]*idleSession, o.idleN)
	closeAll := func(ss []*idleSession) {
		var wg sync.WaitGroup
		for _, s := range ss {
			if s == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if s.idle != nil {
					s.idle.Close()
				}
				s.c.Close()
			}()
		}
		wg.Wait()
	}

	var before memSample
	if o.pid != 0 {
		// Warm-up: -c sessions at once, then closed, so that what the
		// server grows for logins themselves (password hashing work
		// areas, login processes, pools) is in the baseline and not
		// charged to the sessions.
		warm := make([]*idleSession, min(o.conc, o.idleN))
		err := openIdleRange(ctx, o, warm, 0, len(warm))
		closeAll(warm)
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		if before, err = settledMem(o.pid); err != nil {
			return err
		}
	} else {
		o.warnf("idle: no -pid, no memory figures")
	}

	defer func() { closeAll(sessions) }()

	t0 := time.Now()
	half := o.idleN / 2
	if err := openIdleRange(ctx, o, sessions, 0, half); err != nil {
		return err
	}
	opening := time.Since(t0)
	var mid memSample
	if o.pid != 0 && half > 0 {
		var err error
		if mid, err = settledMem(o.pid); err != nil {
			return err
		}
	}
	t1 := time.Now()
	if err := openIdleRange(ctx, o, sessions, half, o.idleN); err != nil {
		return err
	}
	opening += time.Since(t1)
	r.count("sessions", int64(o.idleN), "sessions")
	r.figure("open_s", opening.Seconds(), "s")

	if o.pid != 0 {
		after, err := settledMem(o.pid)
		if err != nil {
			return err
		}
		n := float64(o.idleN)
		r.figure("pss_kib_per_session", float64(after.pssKiB-before.pssKiB)/n, "KiB")
		r.figure("rss_kib_per_session", float64(after.rssKiB-before.rssKiB)/n, "KiB")
		if half > 0 {
			// The second half alone: what one more session costs once
			// the server has grown for logins (argon2 work memory,
			// pools), which the first sessions pay for.
			m := float64(o.idleN - half)
			r.figure("marginal_pss_kib_per_session", float64(after.pssKiB-mid.pssKiB)/m, "KiB")
		}
		r.count("server_procs", int64(after.procs), "procs")
	}

	for _, s := range sessions {
		s.armed.Store(true)
	}
	g := newGenerator(o.from, o.rcpt)
	start := time.Now()
	if err := deliverOne(ctx, o, g, 0); err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	r.ms("deliver_ms", time.Since(start))

	wait := time.NewTimer(o.idleWait)
	defer wait.Stop()
	var lats []time.Duration
	expired := false
	for _, s := range sessions {
		if !expired {
			select {
			case <-s.seen:
			case <-wait.C:
				expired = true
			case <-ctx.Done():
				expired = true
			}
		}
		if expired {
			select {
			case <-s.seen:
			default:
				continue
			}
		}
		lats = append(lats, s.seenAt.Sub(start))
	}
	// Sessions not yet told when the wait ended are counted as missed.
	slices.Sort(lats)
	r.count("notified", int64(len(lats)), "sessions")
	r.ms("notify_p50_ms", percentile(lats, 50))
	r.ms("notify_max_ms", percentile(lats, 100))
	if len(lats) < o.idleN {
		return fmt.Errorf("%w: %d of %d IDLE sessions not told of the delivery within %s", errCheck, o.idleN-len(lats), o.idleN, o.idleWait)
	}
	return nil
}

// openIdleRange opens sessions[lo:hi], -c at a time.
func openIdleRange(ctx context.Context, o *options, sessions []*idleSession, lo, hi int) error {
	next := atomic.Int64{}
	next.Store(int64(lo))
	var firstErr error
	var errMu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < o.conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= hi {
					return
				}
				s, err := openIdle(ctx, o)
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("session %d: %w", i, err)
					}
					errMu.Unlock()
					return
				}
				sessions[i] = s
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// settleTime is how long the server is left alone before its memory is
// sampled: Dovecot's login processes hand over and exit within a second;
// mailsuite gives back what the logins left over after a quiet second or
// two (internal/memtrim). Both are then as they would stay while the
// sessions idle.
const settleTime = 3 * time.Second

// settledMem waits settleTime, then samples.
func settledMem(pid int) (memSample, error) {
	time.Sleep(settleTime)
	return treeMem("/proc", pid)
}

// openIdle logs in, selects -mailbox and starts IDLE.
func openIdle(ctx context.Context, o *options) (*idleSession, error) {
	s := &idleSession{seen: make(chan struct{})}
	h := &imapclient.UnilateralDataHandler{Mailbox: s.onMailbox}
	c, sel, err := o.openMailbox(ctx, false, h)
	if err != nil {
		return nil, err
	}
	s.c = c
	s.initial.Store(sel.NumMessages)
	idle, err := c.Idle()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("IDLE: %w", err)
	}
	s.idle = idle
	return s, nil
}
