package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func runSMTPOne(ctx context.Context, o *options, r *reporter) error {
	return runSMTP(ctx, o, r, 1)
}

func runSMTPMany(ctx context.Context, o *options, r *reporter) error {
	per := o.perConn
	if per == 0 {
		per = (o.n + o.conc - 1) / o.conc
	}
	return runSMTP(ctx, o, r, per)
}

// runSMTP sends -n messages of -size octets over -c concurrent sessions,
// perConn messages per connection, then checks that every accepted
// message is in the store.
//
// Figures: accepted msgs/s and MB/s over the whole send (connects
// included), the p50/p99 of one transaction (MAIL to the reply after the
// final dot), and stored msgs/s: accepted messages over the time until the
// store check found them all (for a server whose reply means "stored",
// about the same; for a queueing MTA such as Postfix, it includes the
// queue's delivery into the Maildir).
func runSMTP(ctx context.Context, o *options, r *reporter, perConn int) error {
	if o.smtpProto == "lmtp" && o.tlsMode != "none" {
		return errors.New("-tls is not supported with -smtp-proto lmtp")
	}
	g := newGenerator(o.from, o.rcpt)
	hdrLen := len(g.header(nil, 0))
	body := appendBody(nil, 1, o.size-hdrLen)

	check, err := newStoreCheck(ctx, o, g)
	if err != nil {
		return fmt.Errorf("store check baseline: %w", err)
	}

	accepted := make([]bool, o.n)
	lats := make([][]time.Duration, o.conc)
	var next, bytes atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < o.conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				first := int(next.Add(int64(perConn))) - perConn
				if first >= o.n {
					return
				}
				cnt := min(perConn, o.n-first)
				bytes.Add(sendBatch(ctx, o, g, body, first, cnt, accepted, &lats[w]))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	slices.Sort(all)
	nAcc := int64(len(all))
	r.count("accepted", nAcc, "msgs")
	r.count("errors", int64(o.n)-nAcc, "msgs")
	r.rate("msgs_per_s", float64(nAcc), elapsed, "msg/s")
	r.mbps("mb_per_s", bytes.Load(), elapsed)
	r.ms("p50_ms", percentile(all, 50))
	r.ms("p99_ms", percentile(all, 99))

	res, err := check.wait(ctx, accepted, start)
	if err != nil {
		return fmt.Errorf("store check: %w", err)
	}
	r.count("stored", int64(res.found), "msgs")
	r.count("missing", int64(res.missing), "msgs")
	if res.missing == 0 && nAcc > 0 {
		r.rate("stored_msgs_per_s", float64(nAcc), res.allBy, "msg/s")
	}
	switch {
	case res.missing > 0:
		return fmt.Errorf("%w: %d accepted messages not in the store after %s", errCheck, res.missing, o.storeWait)
	case res.dups > 0:
		return fmt.Errorf("%w: %d messages stored more than once", errCheck, res.dups)
	case nAcc < int64(o.n):
		return fmt.Errorf("%w: %d of %d messages not accepted", errCheck, int64(o.n)-nAcc, o.n)
	}
	return nil
}

// sendBatch sends messages first..first+cnt-1 over one connection, marks
// each accepted one in accepted and returns the octets accepted. A
// refused message is followed by RSET; a broken connection ends the batch.
func sendBatch(ctx context.Context, o *options, g *generator, body []byte, first, cnt int, accepted []bool, lat *[]time.Duration) int64 {
	c, err := o.dialSMTP(ctx)
	if err != nil {
		o.warnf("smtp connect: %v", err)
		return 0
	}
	defer c.Close()
	bytes := int64(0)
	hdr := make([]byte, 0, 512)
	for i := 0; i < cnt; i++ {
		seq := first + i
		hdr = g.header(hdr[:0], seq)
		t0 := time.Now()
		err := sendOne(c, o, hdr, body)
		if err != nil {
			o.warnf("smtp message %d: %v", seq, err)
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				if c.Reset() == nil {
					continue
				}
			}
			return bytes
		}
		*lat = append(*lat, time.Since(t0))
		accepted[seq] = true
		bytes += int64(len(hdr) + len(body))
	}
	c.Quit()
	return bytes
}

func sendOne(c *smtp.Client, o *options, hdr, body []byte) error {
	if err := c.Mail(o.from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(o.rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	return w.Close()
}

// dialSMTP connects, greets (EHLO or LHLO), upgrades to TLS as -tls says
// and authenticates when -smtp-auth is set.
func (o *options) dialSMTP(ctx context.Context) (*smtp.Client, error) {
	conn, err := o.dial(ctx, o.smtpPort)
	if err != nil {
		return nil, err
	}
	var c *smtp.Client
	switch {
	case o.smtpProto == "lmtp":
		c = smtp.NewClientLMTP(conn)
	case o.tlsMode == "implicit":
		c = smtp.NewClient(tls.Client(conn, o.tlsCfg))
	case o.tlsMode == "starttls":
		c, err = smtp.NewClientStartTLS(conn, o.tlsCfg)
		if err != nil {
			conn.Close()
			return nil, err
		}
	default:
		c = smtp.NewClient(conn)
	}
	if o.tlsMode != "starttls" || o.smtpProto == "lmtp" {
		// (after STARTTLS the client says EHLO again by itself)
		if err := c.Hello("mailbench.localhost"); err != nil {
			c.Close()
			return nil, err
		}
	}
	if o.smtpAuth {
		if err := c.Auth(sasl.NewPlainClient("", o.user, o.pass)); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// deliverOne sends one message of the run (used by idle).
func deliverOne(ctx context.Context, o *options, g *generator, seq int) error {
	c, err := o.dialSMTP(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	msg := g.message(nil, seq, o.size)
	if err := sendOne(c, o, msg, nil); err != nil {
		return err
	}
	return c.Quit()
}
