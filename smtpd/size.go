package smtpd

// The SIZE limit (RFC 1870). RFC 1870 §4: the number EHLO advertises is the
// size of the largest message the server accepts; a message of exactly
// Options.MaxMessageSize octets must go through, one octet more must not.
//
// go-smtp v0.26.0 uses its Server.MaxMessageBytes (n) three ways: EHLO
// advertises "SIZE n", MAIL refuses SIZE= over n (right), and the DATA
// reader refuses a message of exactly n octets (wrong: it checks its budget
// before it looks for the end-of-data line). Its BDAT check is right at n.
//
// Each connection has its own go-smtp Server (conn.go), so the limit is
// moved per transaction: n while no transaction is open (EHLO and MAIL see
// the true limit), n+1 once MAIL is accepted (go-smtp's DATA reader then
// takes a message of n octets and refuses n+1), and back to n at Reset,
// which go-smtp calls at RSET, EHLO, STARTTLS, after DATA and BDAT, and at
// the end of the connection. dataReader refuses anything over n itself,
// which covers BDAT's n+1 too. Every one of these runs in the connection's
// goroutine, where go-smtp reads the field.

// openSizeLimit is called when MAIL is accepted.
func (s *session) openSizeLimit() {
	s.sc.Server().MaxMessageBytes = s.opts.MaxMessageSize + 1
}

// closeSizeLimit is called at Reset.
func (s *session) closeSizeLimit() {
	s.sc.Server().MaxMessageBytes = s.opts.MaxMessageSize
}
