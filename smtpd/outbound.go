package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailsuite/mailsuite/mailbox"
	"github.com/mailsuite/mailsuite/smtpd/queue"
)

// Outbound is the outbound queue as submission uses it; *queue.Queue is
// one. Submit spools the message, queues it for the remote recipients
// durably, and calls local for the local ones; it returns nil only when
// all of that is done (see queue.Queue.Submit).
type Outbound interface {
	Submit(ctx context.Context, m queue.Message, r io.Reader, local queue.Local) (string, error)
}

var _ Outbound = (*queue.Queue)(nil)

// addRemote accepts a recipient in another domain on submission, for the
// outbound queue (RFC 6409 §1: the submission server relays for its
// authenticated users). A recipient named twice is sent to once.
func (s *session) addRemote(to string) error {
	rcpt, err := parseRecipient(to, s.tx.smtputf8)
	if err != nil {
		return s.refuseRcpt(to, err)
	}
	addr := rcpt.String()
	s.tx.rcpts = append(s.tx.rcpts, to)
	if !s.tx.seen["remote:"+addr] {
		s.tx.seen["remote:"+addr] = true
		s.tx.remote = append(s.tx.remote, addr)
	}
	return nil
}

// submitData is Data on the submission service: the sender policy for the
// From header, then local delivery and, for remote recipients, the queue.
// The reply is 250 only once every recipient has the message durably:
// local ones in their INBOX, remote ones in the queue.
func (s *session) submitData(tx transaction, user string, log *slog.Logger, id string, t trace, body *dataReader) error {
	c := s.c
	fix := newBareCRFixer(body) // barecr.go
	br := bufio.NewReaderSize(fix, 4096)
	raw, hdr, err := readHeaderSection(br)
	if err != nil {
		return s.dataFailed(log, id, tx, body, err)
	}
	// Without a From field, the added one names the envelope sender, or
	// the user for <>: that address's domain signs (sender.go).
	author := tx.from
	if author == "" {
		author = user
	}
	signDomain, err := s.checkFromHeader(hdr, author)
	if err != nil {
		log.Warn("message refused: From header", "id", id, "from", tx.from, "reason", err.Error())
		return reply(err)
	}
	added := addedFields(hdr, tx.from, tx.returnPath, user, id, s.opts.Hostname, t.date)
	if added != "" {
		log.Info("header fields added", "id", id, "fields", strings.Join(fieldNames(added), ","))
	}
	// Bcc names recipients the others must not see; a Return-Path is
	// the final delivery's to add (headerfilter.go).
	raw, dropped := stripFields(raw, dropNames("Bcc", "Return-Path"))
	if len(dropped) > 0 {
		log.Info("header fields removed", "id", id, "fields", strings.Join(dropped, ","))
	}
	// The copy for other hosts has our Received field but no Return-Path
	// (RFC 5321 §4.4: only the final delivery adds it); local copies get
	// both. The added fields come before the client's, in every copy:
	// the local ones, the queued one and so the one DKIM signs.
	_, received, _ := strings.Cut(t.String(), "\r\n")
	returnPath := "Return-Path: " + tx.returnPath + "\r\n"
	content := io.MultiReader(strings.NewReader(received), strings.NewReader(added), bytes.NewReader(raw), br)

	if len(tx.remote) == 0 && (!s.opts.CopyToSent || s.opts.Outbound == nil) {
		err = s.opts.Store.Deliver(c.ctx, tx.targets, io.MultiReader(strings.NewReader(returnPath), content))
	} else {
		local := func(open func() (io.ReadCloser, error)) error {
			if len(tx.targets) > 0 {
				rc, err := open()
				if err != nil {
					return err
				}
				err = s.opts.Store.Deliver(c.ctx, tx.targets, io.MultiReader(strings.NewReader(returnPath), rc))
				rc.Close()
				if err != nil {
					return err
				}
			}
			if s.opts.CopyToSent {
				s.copyToSent(user, open, log, id)
			}
			return nil
		}
		_, err = s.opts.Outbound.Submit(c.ctx, queue.Message{ID: id, From: tx.from, User: user, Rcpts: tx.remote,
			UTF8: tx.smtputf8, SignDomain: signDomain}, content, local)
	}
	if err != nil {
		return s.dataFailed(log, id, tx, body, err)
	}
	if fix.fixed > 0 {
		log.Info("bare CR made a line end", "id", id, "count", fix.fixed)
	}
	// "delivered" as for inbound mail when everything was local;
	// "accepted" when some of it is in the queue.
	what := "delivered"
	if len(tx.remote) > 0 {
		what = "accepted"
	}
	log.Info(what, "id", id, "from", tx.from, "rcpts", len(tx.rcpts), "users", len(tx.targets),
		"queued", len(tx.remote), "size", body.n, "tls", tx.tls)
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK: queued as " + id}
}

// dataFailed logs and answers a message that was not accepted.
func (s *session) dataFailed(log *slog.Logger, id string, tx transaction, body *dataReader, err error) error {
	rep := reply(err)
	if body.err != nil {
		log.Info("message not accepted", "id", id, "from", tx.from, "rcpts", len(tx.rcpts),
			"size", body.n, "code", rep.Code, "reason", body.err.Error())
	} else {
		log.Error("message not accepted", "id", id, "from", tx.from, "rcpts", len(tx.rcpts),
			"size", body.n, "code", rep.Code, "err", err)
	}
	return rep
}

// copyToSent files the message in the sender's Sent folder (the one with
// the \Sent special use, RFC 6154), marked \Seen. It is a convenience: a
// failure is logged and the message still goes out.
func (s *session) copyToSent(user string, open func() (io.ReadCloser, error), log *slog.Logger, id string) {
	acct, err := s.opts.Store.Account(user)
	if err != nil {
		log.Warn("copy to Sent failed", "id", id, "err", err)
		return
	}
	defer acct.Close()
	folder := "Sent"
	if list, err := acct.List(); err == nil {
		for _, f := range list {
			if f.SpecialUse == mailbox.UseSent {
				folder = f.Name
				break
			}
		}
	}
	rc, err := open()
	if err == nil {
		_, _, err = acct.Append(folder, rc, []string{mailbox.FlagSeen}, time.Now())
		rc.Close()
	}
	if err != nil {
		log.Warn("copy to Sent failed", "id", id, "folder", folder, "err", err)
	}
}
