package main

import (
	"context"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2"
)

// selectOnce times what a client does when it opens a folder it already
// has cached: connect, LOGIN, SELECT, UID FETCH 1:* (UID FLAGS) (RFC 9051
// §6.4.5 with the FLAGS item of §7.5.2), reading every response with the
// lean reader of rawimap.go. It returns the whole time, the part until
// LOGIN was answered (password hashing differs between servers) and the
// messages fetched.
func selectOnce(ctx context.Context, o *options) (total, login time.Duration, n int, err error) {
	t0 := time.Now()
	c, err := o.dialRawIMAP(ctx)
	if err != nil {
		return 0, 0, 0, err
	}
	defer c.logout()
	if err := c.login(o.user, o.pass); err != nil {
		return 0, 0, 0, err
	}
	login = time.Since(t0)
	exists, err := c.selectMailbox(o.mailbox)
	if err != nil {
		return 0, 0, 0, err
	}
	n, err = c.uidFetchFlags()
	if err != nil {
		return 0, 0, n, err
	}
	total = time.Since(t0)
	if n != exists {
		return total, login, n, fmt.Errorf("%w: SELECT said %d messages, UID FETCH 1:* returned %d", errCheck, exists, n)
	}
	return total, login, n, nil
}

// runSelectFirst times one selectOnce: run it first after the server
// (re)started, with no other client before it.
func runSelectFirst(ctx context.Context, o *options, r *reporter) error {
	d, login, n, err := selectOnce(ctx, o)
	if err != nil {
		return err
	}
	r.ms("ms", d)
	r.ms("login_ms", login)
	r.count("msgs", int64(n), "msgs")
	return nil
}

// runSelectWarm runs selectOnce once untimed, then -repeat times.
func runSelectWarm(ctx context.Context, o *options, r *reporter) error {
	if _, _, _, err := selectOnce(ctx, o); err != nil {
		return err
	}
	var ds, logins []time.Duration
	n := 0
	for i := 0; i < o.repeat && ctx.Err() == nil; i++ {
		d, login, k, err := selectOnce(ctx, o)
		if err != nil {
			return err
		}
		ds = append(ds, d)
		logins = append(logins, login)
		n = k
	}
	r.ms("ms", medianDur(ds))
	r.ms("min_ms", ds[0]) // sorted by medianDur
	r.ms("login_ms", medianDur(logins))
	r.count("msgs", int64(n), "msgs")
	return nil
}

// runFetch streams every message of -mailbox with FETCH 1:* (BODY.PEEK[])
// (RFC 9051 §6.4.5: .PEEK leaves \Seen alone), -repeat times over one
// session, and reports the median's MB/s. It reads with the lean reader of
// rawimap.go, as select does: imapclient's handling of each message took
// about as much CPU as the server's sending of it, on the same cores.
func runFetch(ctx context.Context, o *options, r *reporter) error {
	c, err := o.dialRawIMAP(ctx)
	if err != nil {
		return err
	}
	defer c.logout()
	if err := c.login(o.user, o.pass); err != nil {
		return err
	}
	exists, err := c.examine(o.mailbox)
	if err != nil {
		return err
	}
	if exists == 0 {
		return fmt.Errorf("%w: %s is empty", errCheck, o.mailbox)
	}
	var ds []time.Duration
	var bytes int64
	var msgs int
	for i := 0; i < o.repeat && ctx.Err() == nil; i++ {
		t0 := time.Now()
		b, n, err := c.fetchBodies()
		if err != nil {
			return err
		}
		ds = append(ds, time.Since(t0))
		if n != exists {
			return fmt.Errorf("%w: FETCH 1:* returned %d bodies of %d messages", errCheck, n, exists)
		}
		bytes, msgs = b, n
	}
	med := medianDur(ds)
	r.mbps("mb_per_s", bytes, med)
	r.ms("ms", med)
	r.count("msgs", int64(msgs), "msgs")
	r.count("bytes", bytes, "bytes")
	return nil
}

// searchCase is one timed UID SEARCH (RFC 9051 §6.4.4).
type searchCase struct {
	name string
	crit imap.SearchCriteria
}

var searchCases = []searchCase{
	{"unseen", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}},
	{"header", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: searchHeaderWord}}}},
	{"body", imap.SearchCriteria{Body: []string{searchBodyWord}}},
}

// runSearch times each search case -repeat times over one session.
func runSearch(ctx context.Context, o *options, r *reporter) error {
	c, _, err := o.openMailbox(ctx, true, nil)
	if err != nil {
		return err
	}
	defer closeIMAP(c)
	for _, sc := range searchCases {
		var ds []time.Duration
		hits := -1
		for i := 0; i < o.repeat && ctx.Err() == nil; i++ {
			t0 := time.Now()
			data, err := c.UIDSearch(&sc.crit, nil).Wait()
			if err != nil {
				return fmt.Errorf("UID SEARCH %s: %w", sc.name, err)
			}
			ds = append(ds, time.Since(t0))
			h := uidCount(data.All)
			if hits >= 0 && h != hits {
				return fmt.Errorf("%w: UID SEARCH %s found %d, then %d", errCheck, sc.name, hits, h)
			}
			hits = h
		}
		r.ms(sc.name+"_ms", medianDur(ds))
		r.count(sc.name+"_hits", int64(hits), "msgs")
	}
	return nil
}

// runExpunge marks the last k messages \Deleted with one silent STORE
// and removes them with one EXPUNGE (RFC 9051 §6.4.3), timing each, and
// checks that the server reported k expunges. (The last, not the first, so
// that a folder topped up with k messages for each round keeps its older
// messages for other workloads.)
func runExpunge(ctx context.Context, o *options, r *reporter) error {
	k := o.expungeN
	if k == 0 {
		k = o.n
	}
	c, sel, err := o.openMailbox(ctx, false, nil)
	if err != nil {
		return err
	}
	defer closeIMAP(c)
	if int(sel.NumMessages) < k {
		return fmt.Errorf("%w: %s holds %d messages, fewer than the %d to expunge", errCheck, o.mailbox, sel.NumMessages, k)
	}
	t0 := time.Now()
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	first := sel.NumMessages - uint32(k) + 1
	if err := c.Store(imap.SeqSet{imap.SeqRange{Start: first, Stop: sel.NumMessages}}, store, nil).Close(); err != nil {
		return fmt.Errorf("STORE: %w", err)
	}
	dStore := time.Since(t0)
	t1 := time.Now()
	gone, err := c.Expunge().Collect()
	if err != nil {
		return fmt.Errorf("EXPUNGE: %w", err)
	}
	dExp := time.Since(t1)
	r.ms("store_ms", dStore)
	r.ms("ms", dExp)
	r.count("msgs", int64(len(gone)), "msgs")
	if len(gone) != k {
		return fmt.Errorf("%w: EXPUNGE reported %d messages, expected %d", errCheck, len(gone), k)
	}
	return nil
}
