// Package imapd is the IMAP front end: a go-imap v2 imapserver session over
// the mailbox store, for IMAP4rev1 and IMAP4rev2 clients (RFC 3501, RFC
// 9051) on port 143 (STARTTLS) and 993 (implicit TLS).
//
// It owns what is IMAP-only: the capability set, login policy (TLS, or
// plaintext on loopback when allowed), message sequence numbers (each
// session keeps its own ordered view of the selected folder and announces
// other sessions' changes as EXISTS, EXPUNGE and FETCH FLAGS), the mapping
// of store errors to IMAP response codes, SEARCH evaluation, the MIME
// layout of messages for FETCH (BODYSTRUCTURE, ENVELOPE, body sections,
// BINARY), and a small in-memory cache of that layout.
//
// It does not own mail: every byte, UID, flag and folder is the mailbox
// package's, reached through mailbox.Store, Account and Folder. It does not
// own accounts or passwords either: users.DB answers logins.
//
// Concurrency: a session runs one command at a time on its connection's
// goroutine (IDLE runs on a second goroutine while the first waits for
// DONE). No lock of this package is held while writing to a client; the
// store takes its own locks inside its methods.
package imapd
