package pop3d

// cmdCapa lists the capabilities valid now (RFC 2449 §5). They depend on
// the state and on TLS: a client must ask again after STLS (RFC 2595 §4)
// and after login.
func (ss *session) cmdCapa(cmd command) {
	if !ss.noArgs(cmd) {
		return
	}
	ss.ok("+OK capability list follows")
	ss.reply("TOP")  // RFC 2449 §6.1
	ss.reply("UIDL") // RFC 2449 §6.8
	if ss.state == stateAuthorization {
		if ss.loginAllowed() {
			ss.reply("USER")       // RFC 2449 §6.2
			ss.reply("SASL PLAIN") // RFC 2449 §6.3, as updated by RFC 5034
		}
		if ss.srv.opts.TLSConfig != nil && !ss.tls {
			ss.reply("STLS") // RFC 2595 §4
		}
	}
	ss.reply("RESP-CODES")     // RFC 2449 §6.4
	ss.reply("AUTH-RESP-CODE") // RFC 3206: [AUTH] and [SYS/...] codes
	ss.reply("PIPELINING")     // RFC 2449 §6.6
	// RFC 2449 §6.7: NEVER asserts the server does not delete messages on
	// its own. mailsuite has no retention policy; only the user removes
	// mail (POP3 DELE, IMAP EXPUNGE).
	ss.reply("EXPIRE NEVER")
	ss.reply("IMPLEMENTATION mailsuite") // RFC 2449 §6.9
	ss.reply(".")
}
