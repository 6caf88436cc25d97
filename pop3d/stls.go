package pop3d

import (
	"crypto/tls"
	"time"
)

// cmdStls starts TLS on the connection (RFC 2595 §4).
func (ss *session) cmdStls(cmd command) {
	switch {
	case !ss.noArgs(cmd):
		return
	case ss.tls:
		ss.fail("-ERR already using TLS")
		return
	case ss.srv.opts.TLSConfig == nil:
		ss.fail("-ERR STLS not available")
		return
	}
	ss.ok("+OK begin TLS negotiation")
	if err := ss.bw.Flush(); err != nil {
		ss.endReason = "write failed"
		ss.quit = true
		return
	}
	// Anything the client sent after STLS and before the handshake was
	// sent in the clear and may have been injected by a man in the middle
	// (the STARTTLS command injection class, CVE-2011-0411): drop it.
	// setTransport below replaces the reader and its buffer.
	if n := ss.br.Buffered(); n > 0 {
		ss.log.Warn("pop3 discarding input pipelined before TLS", "bytes", n)
	}
	t := tls.Server(ss.tc.raw, ss.srv.opts.TLSConfig)
	t.SetDeadline(time.Now().Add(ss.srv.opts.Timeout))
	if err := t.Handshake(); err != nil {
		ss.log.Info("pop3 STLS handshake failed", "err", err)
		ss.endReason = "TLS handshake failed"
		ss.quit = true
		return
	}
	t.SetDeadline(time.Time{})
	ss.tls = true
	ss.setTransport(t)
	// RFC 2595 §4: the client discards what it knew before TLS; so do we.
	ss.pendingUser = ""
}
