package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// The mixed workload: -c clients on one folder, each running for
// -duration (and all together at most about -n commands: a step that has
// begun is finished, so each client may go two past it), choosing each step at
// random with these weights, as a mail client busy in a folder would:
//
//	30% list headers: UID FETCH of 20 messages (UID RFC822.SIZE FLAGS
//	    BODY.PEEK[HEADER.FIELDS (...)]), what Thunderbird asks for a new window;
//	30% read: UID FETCH of one message's BODY.PEEK[];
//	20% flag: UID STORE of one message, +FLAGS or -FLAGS (\Flagged);
//	10% APPEND of a new message (a sent-mail copy);
//	10% delete: UID STORE +FLAGS.SILENT (\Deleted) then UID EXPUNGE (RFC
//	    4315 §2.1) of a message this client appended (an APPEND when it has
//	    none yet).
//
// Reads and flags touch only the messages present when the client started
// (its UID SEARCH ALL); deletes touch only what the client appended, so
// that the clients never race to expunge one message and the folder stays
// about the same size. Each IMAP command is one timed command; what the
// client appended and did not delete is expunged after the clock stops.
const (
	mixedWindow = 20
)

var mixedHeaderFields = []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "References", "In-Reply-To", "Content-Type"}

type mixedClient struct {
	o      *options
	c      *imapclient.Client
	g      *generator
	rng    *mrand.Rand
	base   []imap.UID
	own    []imap.UID
	uidExp bool
	next   int // seq of the next appended message
	issued *atomic.Int64
	lat    []time.Duration
	errs   int
	buf    []byte
}

func runMixed(ctx context.Context, o *options, r *reporter) error {
	g := newGenerator(o.from, o.rcpt)
	clients := make([]*mixedClient, o.conc)
	for i := range clients {
		mc, err := newMixedClient(ctx, o, g, i)
		if err != nil {
			for _, c := range clients[:i] {
				closeIMAP(c.c)
			}
			return err
		}
		clients[i] = mc
	}
	var issued atomic.Int64
	for _, mc := range clients {
		mc.issued = &issued
	}
	ends := make([]time.Time, len(clients))
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(o.duration)
	for i, mc := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(stop) && issued.Load() < int64(o.n) {
				if err := mc.step(ctx); errors.Is(err, errConnBroken) {
					break
				}
			}
			ends[i] = time.Now()
			mc.cleanup()
			closeIMAP(mc.c)
		}()
	}
	wg.Wait()
	end := start
	var all []time.Duration
	errs := 0
	for i, mc := range clients {
		if ends[i].After(end) {
			end = ends[i]
		}
		all = append(all, mc.lat...)
		errs += mc.errs
	}
	slices.Sort(all)
	elapsed := end.Sub(start)
	r.count("cmds", int64(len(all)), "cmds")
	r.count("errors", int64(errs), "cmds")
	r.rate("cmds_per_s", float64(len(all)), elapsed, "cmd/s")
	r.ms("p50_ms", percentile(all, 50))
	r.ms("p99_ms", percentile(all, 99))
	if errs > 0 {
		return fmt.Errorf("%w: %d commands failed", errCheck, errs)
	}
	return nil
}

func newMixedClient(ctx context.Context, o *options, g *generator, i int) (*mixedClient, error) {
	c, _, err := o.openMailbox(ctx, false, nil)
	if err != nil {
		return nil, err
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil {
		closeIMAP(c)
		return nil, fmt.Errorf("UID SEARCH ALL: %w", err)
	}
	uids, _ := data.All.(imap.UIDSet)
	base, _ := uids.Nums()
	if len(base) == 0 {
		closeIMAP(c)
		return nil, fmt.Errorf("%w: %s is empty; fill it first", errCheck, o.mailbox)
	}
	caps := c.Caps()
	return &mixedClient{
		o: o, c: c, g: g, base: base,
		rng:    mrand.New(mrand.NewPCG(uint64(i)+1, uint64(time.Now().UnixNano()))),
		uidExp: caps.Has(imap.CapUIDPlus) || caps.Has(imap.CapIMAP4rev2),
		next:   10_000_000 + i*1_000_000,
	}, nil
}

// step runs one weighted step.
func (mc *mixedClient) step(ctx context.Context) error {
	p := mc.rng.IntN(100)
	switch {
	case p < 30:
		return mc.listHeaders()
	case p < 60:
		return mc.readOne()
	case p < 80:
		return mc.flag()
	case p < 90 || len(mc.own) == 0:
		return mc.appendMsg()
	default:
		return mc.deleteOwn()
	}
}

// timed runs one command and records its latency or its failure. A
// failure that closed the connection is errConnBroken.
func (mc *mixedClient) timed(f func() error) error {
	mc.issued.Add(1)
	t0 := time.Now()
	err := f()
	if err == nil {
		mc.lat = append(mc.lat, time.Since(t0))
		return nil
	}
	mc.errs++
	mc.o.warnf("mixed: %v", err)
	select {
	case <-mc.c.Closed():
		return errConnBroken
	default:
		return err
	}
}

func (mc *mixedClient) pick() imap.UID { return mc.base[mc.rng.IntN(len(mc.base))] }

func (mc *mixedClient) listHeaders() error {
	i := mc.rng.IntN(len(mc.base))
	j := min(i+mixedWindow, len(mc.base))
	var set imap.UIDSet
	set.AddNum(mc.base[i:j]...)
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: mixedHeaderFields, Peek: true}
	return mc.timed(func() error {
		cmd := mc.c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true, Flags: true, BodySection: []*imap.FetchItemBodySection{section}})
		return drainFetch(cmd)
	})
}

func (mc *mixedClient) readOne() error {
	set := imap.UIDSetNum(mc.pick())
	return mc.timed(func() error {
		cmd := mc.c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
		return drainFetch(cmd)
	})
}

func (mc *mixedClient) flag() error {
	op := imap.StoreFlagsAdd
	if mc.rng.IntN(2) == 0 {
		op = imap.StoreFlagsDel
	}
	set := imap.UIDSetNum(mc.pick())
	return mc.timed(func() error {
		return drainFetch(mc.c.Store(set, &imap.StoreFlags{Op: op, Flags: []imap.Flag{imap.FlagFlagged}}, nil))
	})
}

func (mc *mixedClient) appendMsg() error {
	seq := mc.next
	mc.next++
	mc.buf = mc.g.message(mc.buf[:0], seq, mc.o.size)
	return mc.timed(func() error {
		cmd := mc.c.Append(mc.o.mailbox, int64(len(mc.buf)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
		if _, err := cmd.Write(mc.buf); err != nil {
			cmd.Close()
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		data, err := cmd.Wait()
		if err != nil {
			return fmt.Errorf("APPEND: %w", err)
		}
		if data.UID != 0 {
			mc.own = append(mc.own, data.UID)
		}
		return nil
	})
}

func (mc *mixedClient) deleteOwn() error {
	uid := mc.own[0]
	mc.own = mc.own[1:]
	set := imap.UIDSetNum(uid)
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	if err := mc.timed(func() error { return drainFetch(mc.c.Store(set, store, nil)) }); err != nil {
		return err
	}
	return mc.timed(func() error {
		if mc.uidExp {
			_, err := mc.c.UIDExpunge(set).Collect()
			return err
		}
		_, err := mc.c.Expunge().Collect()
		return err
	})
}

// cleanup expunges what this client appended and did not delete.
func (mc *mixedClient) cleanup() {
	if len(mc.own) == 0 {
		return
	}
	set := imap.UIDSetNum(mc.own...)
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	if err := drainFetch(mc.c.Store(set, store, nil)); err != nil {
		return
	}
	if mc.uidExp {
		mc.c.UIDExpunge(set).Collect()
	} else {
		mc.c.Expunge().Collect()
	}
}

// drainFetch reads a FETCH (or STORE) response to its end.
func drainFetch(cmd *imapclient.FetchCommand) error {
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			if b, ok := item.(imapclient.FetchItemDataBodySection); ok && b.Literal != nil {
				io.Copy(io.Discard, b.Literal)
			}
		}
	}
	return cmd.Close()
}
