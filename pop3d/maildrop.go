package pop3d

import "fmt"

// uidl is a message's unique-id (RFC 1939 §7 UIDL): its UID and the
// folder's UIDVALIDITY in Dovecot's default format, so that clients moving
// from Dovecot do not fetch everything again. Stable while the message
// stays in the folder and UIDVALIDITY does not change (DESIGN.md, 3).
func uidl(uid, uidValidity uint32) string {
	return fmt.Sprintf("%08X%08X", uid, uidValidity)
}

// cmdStat answers the drop listing (RFC 1939 §5 STAT): the messages not
// marked deleted and their size in CRLF octets.
func (ss *session) cmdStat(cmd command) {
	if !ss.noArgs(cmd) {
		return
	}
	count, size := ss.totals()
	ss.ok("+OK %d %d", count, size)
}

// cmdList gives scan listings (RFC 1939 §5 LIST), of one message or of
// every message not marked deleted.
func (ss *session) cmdList(cmd command) {
	switch len(cmd.args) {
	case 0:
		count, size := ss.totals()
		ss.ok("+OK %s (%s)", plural(count, "message"), plural(size, "octet"))
		for i, m := range ss.msgs {
			if !m.deleted {
				ss.reply("%d %d", i+1, m.info.Size)
			}
		}
		ss.reply(".")
	case 1:
		if i := ss.message(cmd.args[0]); i >= 0 {
			ss.ok("+OK %d %d", i+1, ss.msgs[i].info.Size)
		}
	default:
		ss.fail("-ERR too many arguments")
	}
}

// cmdUidl gives unique-id listings (RFC 1939 §7 UIDL).
func (ss *session) cmdUidl(cmd command) {
	v := ss.folder.UIDValidity()
	switch len(cmd.args) {
	case 0:
		ss.ok("+OK unique-id listing follows")
		for i, m := range ss.msgs {
			if !m.deleted {
				ss.reply("%d %s", i+1, uidl(m.info.UID, v))
			}
		}
		ss.reply(".")
	case 1:
		if i := ss.message(cmd.args[0]); i >= 0 {
			ss.ok("+OK %d %s", i+1, uidl(ss.msgs[i].info.UID, v))
		}
	default:
		ss.fail("-ERR too many arguments")
	}
}

// cmdDele marks a message (RFC 1939 §5 DELE). Nothing is removed before
// QUIT; RSET or a broken connection forgets the mark.
func (ss *session) cmdDele(cmd command) {
	if len(cmd.args) != 1 {
		ss.fail("-ERR DELE needs one message number")
		return
	}
	if i := ss.message(cmd.args[0]); i >= 0 {
		ss.msgs[i].deleted = true
		ss.ok("+OK message %d deleted", i+1)
	}
}

// cmdNoop does nothing (RFC 1939 §5 NOOP).
func (ss *session) cmdNoop(cmd command) {
	if ss.noArgs(cmd) {
		ss.ok("+OK")
	}
}

// cmdRset unmarks every message marked deleted (RFC 1939 §5 RSET), and,
// as Dovecot does, forgets the retrievals that would set \Seen at QUIT.
func (ss *session) cmdRset(cmd command) {
	if !ss.noArgs(cmd) {
		return
	}
	for i := range ss.msgs {
		ss.msgs[i].deleted = false
		ss.msgs[i].retrieved = false
	}
	count, size := ss.totals()
	ss.ok("+OK maildrop has %s (%s)", plural(count, "message"), plural(size, "octet"))
}
