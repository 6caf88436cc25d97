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
// BINARY), computed once per message and kept in the store beside its
// index (mailbox.MetaFolder, in the form of metacodec.go) with a small
// in-memory LRU in front, and the gathering of a command's responses into
// few writes (cork.go).
//
// It does not own mail: every byte, UID, flag and folder is the mailbox
// package's, reached through mailbox.Store, Account and Folder. It does not
// own accounts or passwords either: users.DB answers logins.
//
// Concurrency: a session runs one command at a time. The library reads
// commands on the connection's goroutine and calls the session there; the
// session's methods run on a short-lived goroutine of their own while that
// one waits (apart.go), so that the connection's goroutine keeps a small
// stack. During IDLE no goroutine waits for the client's changes: the
// store's notification starts one that tells them (idle.go). No lock of
// this package is held while writing to a client; the store takes its own
// locks inside its methods.
//
// # Known library limits
//
// The imapserver library (go-imap v2.0.0-beta.8) parses every command and
// answers some mistakes itself, before the session is called; nothing here
// works around them. TestLibraryLimits pins each answer, so that a library
// upgrade that changes one is noticed and this list kept true.
//
// Client mistakes the library answers NO [SERVERBUG] (its decoder returns
// an untyped error, which it reports as a server bug), where BAD or NO
// [CANNOT] would be right:
//   - a mailbox name or LIST pattern that is not valid modified UTF-7 or
//     holds a control character (RFC 3501 §5.1.3), in any command that
//     names a mailbox: CREATE "tab<TAB>name", SELECT "&Jjo", CREATE
//     "&AC8-" (an encoded "/");
//   - a sequence set with 0 or a number over 2^32-1 (RFC 9051 §9
//     nz-number): FETCH 0, FETCH 4294967296, UID FETCH 0;
//   - an unknown or malformed SEARCH key and SEARCH keys nested deeper than
//     the library's limit: SEARCH FOO, SEARCH SINCE yesterday, SEARCH
//     ((((...ALL...));
//   - an AUTHENTICATE initial response that is not base64 (RFC 4959):
//     AUTHENTICATE PLAIN !!!. (A PLAIN message that is base64 but not a
//     PLAIN message, "=" or an empty line included, reaches the session's
//     own SASL server and is NO [AUTHENTICATIONFAILED], login.go.)
//   - an APPEND date-time that does not exist ("31-Feb-2020 ...").
//
// Other library behaviour a client may meet:
//   - After a parse error, or a refusal at a literal's header (a literal
//     over 4096 octets for any command but APPEND, an APPEND over
//     APPENDLIMIT), the library would read the literal's octets as the
//     next commands. The connection's literalGuard (literalguard.go)
//     closes the connection right after such a refusal when the client
//     has sent literal octets without waiting for "+", so nothing in a
//     literal is ever run; a client that waits for "+" keeps its session.
//   - An empty command line, or a tag that is not an atom (a quoted
//     string, a NUL), ends the connection without a response.
//   - SEARCH RETURN (SAVE) with no other return option still sends an
//     ESEARCH response (RFC 5182 §1: SAVE alone "suppresses any SEARCH
//     response").
//   - SEARCH SMALLER n LARGER m loses SMALLER: imap.SearchCriteria.And
//     keeps one of the two size bounds, so the result is that of LARGER
//     alone (LARGER m SMALLER n works).
//   - BODY[HEADER.FIELDS ()] (an empty list, which RFC 9051 §9 does not
//     allow) is accepted and read as BODY[HEADER]: the whole header is sent.
//   - A command pipelined after STARTTLS, before the TLS handshake, is
//     read as TLS and breaks the handshake; it is never executed, so this
//     is safe.
//   - The library does not tell the session whether an APPEND literal was
//     literal8 (RFC 3516 §4.4), so a NUL octet is refused in both
//     (append.go); it writes an empty AUTHENTICATE challenge as "+ =".
//   - The library flushes its writer after every response line (cork.go
//     gathers a command's lines into few writes) and sets a write deadline
//     per response.
//   - Each connection costs the library a 4 KiB reader and a 4 KiB writer
//     that are never released, and one goroutine; IDLE starts a second one
//     that runs Session.Idle. Our Idle returns at once (idle.go), so an idle
//     session holds the buffers and one 4 KiB stack: about 12 KiB of its
//     ~16 KiB (BenchmarkIdle1000). The library writes IDLE's tagged OK only
//     after the Poll that follows DONE, which ends our IDLE first, so no
//     update follows the OK and no EXPUNGE is sent outside a command (RFC
//     9051 §7.5.1).
//   - The library parses SEARCH keys on the connection's goroutine, deep
//     enough to grow its stack to 8 KiB, which it then keeps (apart.go): a
//     connection that has run SEARCH idles at about 20 KiB.
//   - ENVELOPE: the library Q-encodes subject and display names that hold
//     8-bit octets even for a UTF8=ACCEPT client, formats the date again
//     (one that does not parse is NIL) and puts message IDs back between
//     "<" and ">" (envelope.go, downgrade.go).
package imapd
