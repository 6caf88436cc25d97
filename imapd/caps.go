package imapd

import (
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// The library panics when a capability is advertised whose optional
// interface the session lacks (LIBRARY-NOTES.md): assert them here.
var (
	_ imapserver.SessionIMAP4rev2   = (*session)(nil)
	_ imapserver.SessionNamespace   = (*session)(nil)
	_ imapserver.SessionMove        = (*session)(nil)
	_ imapserver.SessionAppendLimit = (*session)(nil)
	_ imapserver.SessionSASL        = (*session)(nil)
)

// capabilities is what we advertise; each one is implemented by the session.
// The library adds, by connection state: STARTTLS (TLSConfig set, before
// TLS), AUTH=PLAIN or LOGINDISABLED (RFC 9051 §6.2.3, by whether login is
// allowed on this connection), SASL-IR, LITERAL-, and after login UNSELECT,
// ENABLE, IDLE, UTF8=ACCEPT and APPENDLIMIT=n (from AppendLimit).
//
// LITERAL+ (RFC 7888) lets a client send any literal without waiting for
// "+". The library reads a literal it refused (an APPEND over APPENDLIMIT,
// a literal over 4096 octets for any other command) as commands; the
// connection's literalGuard (literalguard.go) closes the connection after
// such a refusal, before anything in the literal is parsed.
func capabilities() imap.CapSet {
	return imap.CapSet{
		imap.CapIMAP4rev1:        {},
		imap.CapIMAP4rev2:        {},
		imap.CapNamespace:        {},
		imap.CapUIDPlus:          {},
		imap.CapESearch:          {},
		imap.CapSearchRes:        {},
		imap.CapListExtended:     {},
		imap.CapListStatus:       {},
		imap.CapMove:             {},
		imap.CapStatusSize:       {},
		imap.CapBinary:           {},
		imap.CapChildren:         {},
		imap.CapSpecialUse:       {},
		imap.CapCreateSpecialUse: {},
		imap.CapLiteralPlus:      {},
	}
}
