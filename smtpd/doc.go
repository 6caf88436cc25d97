// Package smtpd is the SMTP front end of mailsuite: the inbound MX (port 25)
// and the submission service for the server's own users (587 with STARTTLS,
// 465 with implicit TLS). It adapts go-smtp's session interface to the
// mailbox store and the users database.
//
// It owns: the SMTP dialogue policy (who may send to whom, AUTH and its TLS
// rules, size and recipient limits, address validation), the trace header
// fields added to each message (Return-Path, Received), the From, Date and
// Message-ID added on submission when the client left them out (sender.go),
// the mapping of store and database errors to SMTP replies (errors.go), and
// the life cycle of connections (limits, graceful shutdown).
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
//
// What go-smtp v0.26.0 does on the wire that this package cannot change
// (go-smtp writes these replies itself), so that nobody looks for them here:
//   - A line over MaxLineLength inside DATA gets two replies: ours, "500
//     5.5.2 Line too long", then go-smtp's "500 5.4.0 Too long line,
//     closing connection", and the connection closes.
//   - Commands out of sequence get 502 5.5.1 ("Please introduce yourself
//     first.", "Missing RCPT TO command.", "Missing MAIL FROM command.")
//     where RFC 5321 §3.3 and §4.1.4 want 503.
//   - A command word that is not four letters followed by a space or the
//     end of the line ("FOOBAR", "FOO") gets "501 5.5.2 Bad command"; only
//     an unknown four-letter word gets 500, as RFC 5321 §4.2.4 wants for
//     every unrecognized command.
//   - MAIL and RCPT parameters that are not offered (RET=, ENVID=,
//     NOTIFY=, ORCPT= of DSN, which is not advertised) get "504 5.5.4"
//     where RFC 5321 §4.1.1.11 asks for 555.
//   - Bad base64 in AUTH (initial response or continuation) gets "454
//     4.7.0 Invalid base64 data" where RFC 4954 §4 wants 501.
//   - The reply to the fourth malformed or unknown command is followed by
//     "500 5.5.1 Too many errors. Quiting now" (sic), and the connection
//     closes.
//   - Paths are simplified before Mail and Rcpt see them: a source route
//     ("<@relay.example:user@example.org>") is dropped (RFC 5321
//     §4.1.1.3 and appendix C let a server ignore it), and a quoted local
//     part arrives unquoted ("\"bob\"@example.org" as bob@example.org), so
//     quoting can be neither refused nor kept.
//   - A BDAT chunk cut by the read timeout is answered "554 5.0.0 Error:
//     transaction failed: " and Go's error text (with both addresses),
//     then "421 4.4.0 Connection error, sorry" as the connection closes.
//     (go-smtp alone would read the rest of the chunk as commands; endConn
//     fails every read after the timeout instead.)
//
// Worked around here: the SIZE boundary (size.go); the read deadline during
// DATA, and go-smtp reading the rest of a refused message under a deadline
// that may have passed, which would turn that rest into commands
// (dataReader, drain.go's replied); closing the connection right after a
// reply, which go-smtp cannot do (drain.go: Shutdown, the AUTH failure
// limit); the end of a DATA message whose last line ends in CR CR LF,
// which go-smtp's reader does not see (missedend.go: answered, then 421
// and the connection closed).
package smtpd
