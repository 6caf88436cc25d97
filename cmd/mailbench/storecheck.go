package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// storeCheck finds this run's messages in the store after an SMTP run:
// in the Maildir at -maildir when it is given (files the server wrote,
// read directly), otherwise over IMAP in -mailbox. A message counts when
// its X-Mailbench-Run header is this run's and its X-Mailbench-Seq names
// an accepted message.
type storeCheck struct {
	o    *options
	g    *generator
	base map[string]bool // Maildir keys present before the run
	seen map[string]int  // Maildir key -> seq (-1: not this run's)
	imap *imapclient.Client
}

type storeResult struct {
	found, missing, dups int
	allBy                time.Duration // from start until a check that found them all began
}

func newStoreCheck(ctx context.Context, o *options, g *generator) (*storeCheck, error) {
	sc := &storeCheck{o: o, g: g, seen: map[string]int{}}
	if o.maildir != "" {
		files, err := maildirFiles(o.maildir)
		if err != nil {
			return nil, err
		}
		sc.base = make(map[string]bool, len(files))
		for k := range files {
			sc.base[k] = true
		}
	}
	return sc, nil
}

// wait polls the store until every accepted message is found or
// -store-wait passes.
func (sc *storeCheck) wait(ctx context.Context, accepted []bool, start time.Time) (storeResult, error) {
	if sc.imap != nil {
		defer closeIMAP(sc.imap)
	}
	want := 0
	for _, a := range accepted {
		if a {
			want++
		}
	}
	deadline := time.Now().Add(sc.o.storeWait)
	for {
		began := time.Now()
		last := began.After(deadline) || ctx.Err() != nil
		seqs, ready, err := sc.find(ctx, want, last)
		if err != nil {
			return storeResult{}, err
		}
		if ready || last {
			var res storeResult
			for seq, n := range seqs {
				if seq >= 0 && seq < len(accepted) && accepted[seq] {
					res.found++
					res.dups += n - 1
				}
			}
			res.missing = want - res.found
			if res.missing == 0 || last {
				res.allBy = began.Sub(start)
				return res, nil
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// find returns how many stored copies each seq of this run has. ready is
// false when a cheap look shows fewer than want new messages (and force
// is not set), so that polling a queueing MTA costs little.
func (sc *storeCheck) find(ctx context.Context, want int, force bool) (map[int]int, bool, error) {
	if sc.o.maildir != "" {
		return sc.findMaildir(want, force)
	}
	return sc.findIMAP(ctx, want, force)
}

func (sc *storeCheck) findMaildir(want int, force bool) (map[int]int, bool, error) {
	files, err := maildirFiles(sc.o.maildir)
	if err != nil {
		return nil, false, err
	}
	fresh := 0
	for k := range files {
		if !sc.base[k] {
			fresh++
		}
	}
	if fresh < want && !force {
		return nil, false, nil
	}
	seqs := map[int]int{}
	runHdr := []byte("X-Mailbench-Run: " + sc.g.run)
	for k, path := range files {
		if sc.base[k] {
			continue
		}
		seq, ok := sc.seen[k]
		if !ok {
			head, err := readHead(path, 2048)
			if errors.Is(err, os.ErrNotExist) {
				continue // renamed since the listing; the next look finds it
			}
			if err != nil {
				return nil, false, err
			}
			seq = -1
			if bytes.Contains(head, runHdr) {
				seq = headerSeq(head)
			}
			sc.seen[k] = seq
		}
		if seq >= 0 {
			seqs[seq]++
		}
	}
	return seqs, true, nil
}

func (sc *storeCheck) findIMAP(ctx context.Context, want int, force bool) (map[int]int, bool, error) {
	if sc.imap == nil {
		c, _, err := sc.o.openMailbox(ctx, true, nil)
		if err != nil {
			return nil, false, err
		}
		sc.imap = c
	}
	c := sc.imap
	if err := c.Noop().Wait(); err != nil {
		return nil, false, err
	}
	crit := &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "X-Mailbench-Run", Value: sc.g.run}}}
	data, err := c.UIDSearch(crit, nil).Wait()
	if err != nil {
		return nil, false, err
	}
	uids, ok := data.All.(imap.UIDSet)
	if !ok || len(uids) == 0 {
		return map[int]int{}, force || want == 0, nil
	}
	if uidCount(uids) < want && !force {
		return nil, false, nil
	}
	section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"X-Mailbench-Seq"}, Peek: true}
	cmd := c.Fetch(uids, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	seqs := map[int]int{}
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			if b, ok := item.(imapclient.FetchItemDataBodySection); ok && b.Literal != nil {
				head, _ := io.ReadAll(io.LimitReader(b.Literal, 4096))
				if seq := headerSeq(head); seq >= 0 {
					seqs[seq]++
				}
			}
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, false, err
	}
	return seqs, true, nil
}

// headerSeq reads the X-Mailbench-Seq value from a header block, or -1.
func headerSeq(head []byte) int {
	const name = "X-Mailbench-Seq:"
	i := bytes.Index(head, []byte(name))
	if i < 0 {
		return -1
	}
	rest := head[i+len(name):]
	rest = bytes.TrimLeft(rest, " ")
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	v, err := strconv.Atoi(string(rest[:j]))
	if err != nil {
		return -1
	}
	return v
}

// maildirFiles lists the message files of a Maildir folder (new/ and
// cur/) by key (the name before ":"), each with its path. A missing
// folder is empty.
func maildirFiles(dir string) (map[string]string, error) {
	out := map[string]string{}
	for _, sub := range []string{"new", "cur"} {
		d := filepath.Join(dir, sub)
		f, err := os.Open(d)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if strings.HasPrefix(n, ".") {
				continue
			}
			key, _, _ := strings.Cut(n, ":")
			out[key] = filepath.Join(d, n)
		}
	}
	return out, nil
}

// readHead reads at most n bytes from the start of a file.
func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	k, err := io.ReadFull(f, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	return buf[:k], err
}
