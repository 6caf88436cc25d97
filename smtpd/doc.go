// Package smtpd is the SMTP front end of mailsuite: the inbound MX (port 25)
// and the submission service for the server's own users (587 with STARTTLS,
// 465 with implicit TLS). It adapts go-smtp's session interface to the
// mailbox store and the users database.
//
// It owns: the SMTP dialogue policy (who may send to whom, AUTH and its TLS
// rules, size and recipient limits, address validation), the trace header
// fields added to each message (Return-Path, Received), the mapping of store
// and database errors to SMTP replies (errors.go), and the life cycle of
// connections (limits, graceful shutdown).
//
// It does not own: how mail is stored (package mailbox delivers it durably),
// who the users are and how passwords are checked (package users), TLS
// certificates (the caller passes a *tls.Config or a TLS listener), or the
// outbound delivery (sub-package queue; submission hands it the remote
// recipients through Options.Outbound, outbound.go).
//
// One Server serves one kind of listener: New(Options{Mode: Inbound}) for
// port 25, New(Options{Mode: Submission}) for 587, and for 465 the same with
// the caller passing a tls.NewListener; TLS is detected by connection type.
package smtpd
