package queue

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// What the log records of each kind of connection (issue: "record whether
// delivery was TLS-verified, TLS or plain").
func TestTLSRecorded(t *testing.T) {
	goodCert, goodPool := testCert(t, "mx.b.test")
	otherCert, _ := testCert(t, "someone-else.test")
	for _, tc := range []struct {
		name    string
		srv     *tls.Config
		want    string
		wantTLS bool
	}{
		{"valid certificate", &tls.Config{Certificates: []tls.Certificate{goodCert}}, TLSVerified, true},
		// Opportunistic TLS (RFC 7435): a certificate we cannot verify
		// still beats plain text; the difference is recorded.
		{"certificate for another name", &tls.Config{Certificates: []tls.Certificate{otherCert}}, TLSUnverified, true},
		{"no STARTTLS offered", nil, TLSPlain, false},
		// STARTTLS offered but the handshake fails: delivered over a
		// second connection without STARTTLS.
		{"handshake fails", &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return nil, errors.New("no certificate today")
		}}, TLSPlain, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			r := newRemote(t, remoteOpts{tls: tc.srv})
			w.to("b.test", r)
			w.opts.RootCAs = goodPool
			q := w.open(true)
			id := w.submit(q, "bob@b.test")
			got := r.waitReceived(1)
			waitEmpty(t, q)
			if got[0].tls != tc.wantTLS {
				t.Errorf("remote saw tls=%v", got[0].tls)
			}
			w.wantLog(`msg="delivery attempt"`, "id="+id, "sent=1", "tls="+tc.want)
		})
	}
}

// A host that accepts the connection and never greets is given up on
// after GreetingTimeout (RFC 5321 §4.5.3.2.1), and the message deferred.
func TestGreetingTimeout(t *testing.T) {
	w := newWorld(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // silent until the listener closes
		}
	}()
	w.dns.setMX("b.test", "mx.b.test")
	w.dns.setHost("mx.b.test", "127.0.0.1")
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	w.opts.MXPort = atoi(port)
	w.opts.GreetingTimeout = 100 * time.Millisecond
	w.opts.RetryMin = time.Hour
	q := w.open(true)
	id := w.submit(q, "bob@b.test")
	line := w.wantLog(`msg="delivery attempt"`, "id="+id, "deferred=1")
	if !strings.Contains(line, "timeout") {
		t.Errorf("the reason does not say timeout: %s", line)
	}
}

// The remote takes longer than DataEndTimeout to answer the final dot:
// deferred (the message may have arrived: RFC 1047's duplicate).
func TestDataEndTimeout(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	r.dataDelay = 300 * time.Millisecond
	w.opts.DataEndTimeout = 50 * time.Millisecond
	w.opts.RetryMin = time.Hour
	q := w.open(true)
	id := w.submit(q, "bob@b.test")
	w.wantLog(`msg="delivery attempt"`, "id="+id, "deferred=1", "code=4.4.2", "timeout talking to mx.b.test while sending end of data")
}

// The smarthost takes all mail, whatever the domain, over one verified
// STARTTLS connection with AUTH PLAIN.
func TestSmarthost(t *testing.T) {
	w := newWorld(t)
	cert, pool := testCert(t, "relay.isp.test")
	r := newRemote(t, remoteOpts{tls: &tls.Config{Certificates: []tls.Certificate{cert}}})
	r.onAuth = func(user, pass string) error {
		if user != "me" || pass != "secret" {
			return smtpErr(535, "5.7.8", "bad credentials")
		}
		return nil
	}
	w.opts.RootCAs = pool
	w.opts.Smarthost = &Smarthost{Addr: "relay.isp.test:" + itoa(r.port()), TLS: TLSStartTLS, Username: "me", Password: "secret"}
	w.dns.setHost("relay.isp.test", "127.0.0.1")
	q := w.open(true)
	id := w.submit(q, "bob@b.test", "carol@c.test")
	got := r.waitReceived(1)
	waitEmpty(t, q)
	if len(got[0].rcpts) != 2 || !got[0].tls || got[0].auth != "me" {
		t.Errorf("got %+v", got[0])
	}
	w.wantLog(`msg="delivery attempt"`, "id="+id, "dest=smarthost", "sent=2", "tls=verified")
	w.dns.mu.Lock()
	for _, a := range w.dns.asked {
		if strings.HasPrefix(a, "MX") {
			t.Errorf("asked %s with a smarthost", a)
		}
	}
	w.dns.mu.Unlock()
}

// A smarthost failure never bounces (the admin can fix it) and never
// sends credentials in the clear or to an unverified host.
func TestSmarthostFailures(t *testing.T) {
	_, pool := testCert(t, "relay.isp.test")
	wrongCert, _ := testCert(t, "relay.isp.test") // not in the pool
	for _, tc := range []struct {
		name   string
		srv    *tls.Config
		mode   TLSMode
		reason string
		noAuth bool
	}{
		{"no STARTTLS", nil, TLSStartTLS, `the smarthost does not offer STARTTLS, which smarthost_tls = \"starttls\" requires`, true},
		{"unverified certificate", &tls.Config{Certificates: []tls.Certificate{wrongCert}}, TLSStartTLS, "certificate signed by unknown authority", true},
		{"wrong password", nil, TLSNone, "host 127.0.0.1 said: 535 5.7.8 bad credentials (in reply to AUTH)", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			r := newRemote(t, remoteOpts{tls: tc.srv})
			authTried := false
			r.onAuth = func(string, string) error {
				authTried = true
				return smtpErr(535, "5.7.8", "bad credentials")
			}
			w.opts.RootCAs = pool
			w.opts.RetryMin = time.Hour
			// "none" with credentials only on loopback, by IP.
			w.opts.Smarthost = &Smarthost{Addr: "127.0.0.1:" + itoa(r.port()), TLS: tc.mode, Username: "me", Password: "pw"}
			if tc.mode != TLSNone {
				w.opts.Smarthost.Addr = "relay.isp.test:" + itoa(r.port())
				w.dns.setHost("relay.isp.test", "127.0.0.1")
			}
			q := w.open(true)
			id := w.submit(q, "bob@b.test")
			w.wantLog(`msg="delivery attempt"`, "id="+id, "deferred=1", tc.reason)
			if authTried == tc.noAuth {
				t.Errorf("AUTH tried: %v", authTried)
			}
			if len(w.inbox("alice@a.test")) != 0 {
				t.Error("a smarthost failure bounced")
			}
		})
	}
}

// Implicit TLS (RFC 8314) to a smarthost.
func TestSmarthostImplicitTLS(t *testing.T) {
	w := newWorld(t)
	cert, pool := testCert(t, "relay.isp.test")
	r := newImplicitTLSRemote(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	w.opts.RootCAs = pool
	w.opts.Smarthost = &Smarthost{Addr: "relay.isp.test:" + itoa(r.port()), TLS: TLSImplicit}
	w.dns.setHost("relay.isp.test", "127.0.0.1")
	q := w.open(true)
	id := w.submit(q, "bob@b.test")
	if got := r.waitReceived(1); !got[0].tls {
		t.Error("not over TLS")
	}
	w.wantLog(`msg="delivery attempt"`, "id="+id, "sent=1", "tls=verified")
}

// The SMTPUTF8 message and a remote without SMTPUTF8: returned (RFC 6531
// §3.4), nothing sent.
func TestSMTPUTF8Unsupported(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	r.srv.EnableSMTPUTF8 = false
	w.to("b.test", r)
	q := w.open(true)
	_, err := q.Submit(t.Context(), Message{From: "ålice@a.test", User: "alice@a.test", Rcpts: []string{"bob@b.test"}, UTF8: true},
		strings.NewReader("From: ålice@a.test\r\n\r\nhej\r\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := parseDSN(t, w.waitInbox("alice@a.test", 1)[0])
	if got := d.fields[1].Get("Status"); got != "5.6.7" {
		t.Errorf("Status %q", got)
	}
	if _, _, mails := r.stats(); mails != 0 {
		t.Errorf("%d MAIL commands sent", mails)
	}
}
