package pop3d

import (
	"fmt"

	"github.com/mailsuite/mailsuite/mailbox"
)

// cmdQuit ends the session. In TRANSACTION state it first enters the
// UPDATE state (RFC 1939 §6): the messages marked with DELE are removed
// and the ones retrieved get \Seen. A session that ends any other way
// (drop, timeout, shutdown) never gets here and changes nothing.
func (ss *session) cmdQuit(cmd command) {
	if !ss.noArgs(cmd) {
		return
	}
	ss.quit = true
	ss.endReason = "quit"
	if ss.state != stateTransaction {
		ss.ok("+OK %s POP3 server signing off", ss.srv.opts.Hostname)
		return
	}

	var remove, seen []uint32
	for _, m := range ss.msgs {
		switch {
		case m.deleted:
			remove = append(remove, m.info.UID)
		case m.retrieved && !hasFlag(m.info.Flags, mailbox.FlagSeen):
			seen = append(seen, m.info.UID)
		}
	}

	// Flags first: their failure is logged but does not fail QUIT, whose
	// answer RFC 1939 §6 ties to the removal alone. Read-only folders
	// (none today: INBOX is opened read-write) take no flags.
	if len(seen) > 0 && !ss.folder.ReadOnly() {
		if _, err := ss.folder.SetFlags(seen, mailbox.FlagsAdd, []string{mailbox.FlagSeen}); err != nil {
			ss.log.Warn("pop3 setting \\Seen at QUIT failed", "count", len(seen), "err", err)
		}
	}
	if len(remove) > 0 {
		if err := ss.folder.Remove(remove); err != nil {
			ss.log.Error("pop3 removing messages at QUIT failed", "count", len(remove), "err", err)
			ss.endReason = "quit, removal failed"
			// RFC 1939 §6 QUIT: "-ERR some deleted messages not removed".
			ss.fail("-ERR [SYS/TEMP] some deleted messages not removed")
			return
		}
	}
	ss.removed = len(remove)
	ss.ok("+OK %s POP3 server signing off (%s deleted)", ss.srv.opts.Hostname, plural(len(remove), "message"))
}

func hasFlag(flags []string, flag string) bool {
	for _, f := range flags {
		if f == flag {
			return true
		}
	}
	return false
}

// plural writes a count and its noun, in the plural unless the count is
// one: "1 message", "0 messages", "2 octets". The replies RFC 1939 shows
// ("2 messages (320 octets)") are free text after the status indicator,
// which no client parses, so they may read as English.
func plural[N int | int64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
