// Package queue is mailsuite's outbound mail: the durable queue of messages
// for other domains, and the workers that deliver them (store and forward,
// RFC 5321 §2.1 and §4.5.4).
//
// It owns: the queue directory (data_dir/queue) and its file formats, the
// next hop of each recipient (smarthost, a per-domain route, or the
// domain's MX hosts with the fallback to its address records, RFC 5321
// §5.1, and null MX, RFC 7505), the SMTP client side (opportunistic
// STARTTLS with the certificate check recorded, timeouts of RFC 5321
// §4.5.3.2, one connection carrying many recipients and messages),
// retries with backoff up to a lifetime, delivery status notifications
// (RFC 3464) put into the sender's INBOX, DKIM signing (RFC 6376, RFC 8463)
// with keys under data_dir/dkim, and the operator's view and commands
// (admin.go).
//
// It does not own: who may send what (package smtpd checks the sender and
// hands over only remote recipients), local delivery (package mailbox, which
// also receives the notifications), or the config file (package config;
// cmd/mailsuite turns it into Options).
//
// The promise: Submit returns nil only when the message and the state of
// each recipient are on disk and fsynced. A recipient's result is recorded
// durably before the worker moves on, so a restart never delivers twice to
// a recipient whose server said 250. What a crash can still cause is the
// duplicate RFC 1047 describes: the remote took the message but its 250
// never arrived.
//
// Layout of data_dir/queue:
//
//	tmp/        files being written; emptied at start
//	mail/ID.msg the message as it is sent (CRLF line ends), never changed
//	mail/ID.env its envelope and per-recipient state (record.go), replaced
//	            atomically; a message is queued exactly when this exists
//	ctl/        requests from `mailsuite queue retry|delete` to a running
//	            server (control.go)
//	corrupt/    envelopes that could not be read, moved aside at start
package queue
