package queue

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// RFC 5321 §5.1: MX hosts are tried in order of preference; when the
// best cannot be reached the next one is used, in the same attempt.
func TestMXPreferenceOrder(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.opts.MXPort = r.port()
	w.dns.mu.Lock()
	w.dns.mx["b.test"] = []*net.MX{
		{Host: "backup.b.test.", Pref: 20},
		{Host: "primary.b.test.", Pref: 5},
		{Host: "second.b.test.", Pref: 10},
	}
	w.dns.mu.Unlock()
	w.dns.setHost("primary.b.test", "192.0.2.1")
	w.dns.setHost("second.b.test", "2001:db8::2", "192.0.2.2") // IPv6 and IPv4, both down
	w.dns.setHost("backup.b.test", "127.0.0.1")
	w.dialer.down["192.0.2.1"], w.dialer.down["2001:db8::2"], w.dialer.down["192.0.2.2"] = true, true, true
	q := w.open(true)
	w.submit(q, "bob@b.test")
	r.waitReceived(1)
	waitEmpty(t, q)
	port := fmt.Sprint(r.port())
	want := []string{"192.0.2.1:" + port, "[2001:db8::2]:" + port, "192.0.2.2:" + port, "127.0.0.1:" + port}
	if got := w.dialer.dialed(); !slices.Equal(got, want) {
		t.Errorf("dialed %q, want %q", got, want)
	}
	w.wantLog(`msg="delivery attempt"`, "sent=1", "host=backup.b.test", "tls=plain")
}

// RFC 5321 §5.1: a domain without MX records is its own mail exchanger.
func TestImplicitMX(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.opts.MXPort = r.port()
	w.dns.setHost("b.test", "127.0.0.1")
	q := w.open(true)
	w.submit(q, "bob@b.test")
	if got := r.waitReceived(1); got[0].rcpts[0] != "bob@b.test" {
		t.Errorf("rcpts %q", got[0].rcpts)
	}
	waitEmpty(t, q)
}

// dsnParts parses a DSN found in an INBOX: its top header, the three
// parts' content types, and the per-recipient fields of the report.
type dsnParsed struct {
	header  message.Header
	types   []string
	human   string
	fields  []textproto.Header // [0]: per message; then one per recipient
	headers string
}

func parseDSN(t testing.TB, raw string) dsnParsed {
	t.Helper()
	e, err := message.Read(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("DSN does not parse: %v\n%s", err, raw)
	}
	var d dsnParsed
	d.header = e.Header
	mt, params, err := e.Header.ContentType()
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %q %v (%v)", mt, params, err)
	}
	mr := e.MultipartReader()
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		pt, _, _ := p.Header.ContentType()
		d.types = append(d.types, pt)
		body := new(strings.Builder)
		buf := make([]byte, 4096)
		for {
			n, err := p.Body.Read(buf)
			body.Write(buf[:n])
			if err != nil {
				break
			}
		}
		switch pt {
		case "text/plain":
			d.human = body.String()
		case "message/delivery-status", "message/global-delivery-status":
			for _, block := range strings.Split(strings.TrimSpace(strings.ReplaceAll(body.String(), "\r\n", "\n")), "\n\n") {
				h, err := textproto.ReadHeader(bufioReader(block + "\n\n"))
				if err != nil {
					t.Fatalf("delivery-status block does not parse: %v\n%s", err, block)
				}
				d.fields = append(d.fields, h)
			}
		default:
			d.headers = body.String()
		}
	}
	if want := []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}; !slices.Equal(d.types, want) &&
		!slices.Equal(d.types, []string{"text/plain", "message/global-delivery-status", "message/global-headers"}) {
		t.Fatalf("parts %q, want %q", d.types, want)
	}
	if len(d.fields) < 2 {
		t.Fatalf("delivery-status has %d blocks", len(d.fields))
	}
	return d
}

// The reason a bounce gives for each failure.
func TestBounceReasons(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(w *world)
		status string
		reason string // in the human part and the Diagnostic-Code
	}{
		{"null MX", func(w *world) {
			// RFC 7505: MX 0 "." means no mail at all.
			w.dns.mx["b.test"] = []*net.MX{{Host: ".", Pref: 0}}
		}, "5.1.10", "b.test does not accept mail: it publishes a null MX record (RFC 7505)"},
		{"no MX and no A", func(w *world) {}, "5.1.2",
			"b.test has no mail server: it has no MX record and no A or AAAA record (RFC 5321 section 5.1)"},
		{"MX host without address", func(w *world) { w.dns.setMX("b.test", "gone.b.test") }, "5.4.4",
			"no address found for the mail server gone.b.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			tc.setup(w)
			q := w.open(true)
			id := w.submit(q, "bob@b.test")
			in := w.waitInbox("alice@a.test", 1)
			waitEmpty(t, q)
			d := parseDSN(t, in[0])
			if got := d.header.Get("Subject"); got != "Undelivered Mail Returned to Sender" {
				t.Errorf("Subject %q", got)
			}
			if !strings.HasPrefix(in[0], "Return-Path: <>\r\n") {
				t.Errorf("the DSN does not start with the null Return-Path:\n%.200s", in[0])
			}
			f := d.fields[1]
			if f.Get("Final-Recipient") != "rfc822; bob@b.test" || f.Get("Action") != "failed" || f.Get("Status") != tc.status {
				t.Errorf("fields: %q %q %q", f.Get("Final-Recipient"), f.Get("Action"), f.Get("Status"))
			}
			if got := f.Get("Diagnostic-Code"); got != "X-mailsuite; "+asciiField(tc.reason) {
				t.Errorf("Diagnostic-Code %q, want the reason %q", got, tc.reason)
			}
			if !strings.Contains(oneLine(d.human), "<bob@b.test>: "+tc.reason) {
				t.Errorf("the explanation does not give the reason %q:\n%s", tc.reason, d.human)
			}
			if d.fields[0].Get("Reporting-MTA") != "dns; "+ourHost || d.fields[0].Get("X-Mailsuite-Queue-ID") != id {
				t.Errorf("per-message fields: %v", d.fields[0])
			}
			if !strings.Contains(d.headers, "Subject: test\r\n") {
				t.Errorf("original header missing:\n%s", d.headers)
			}
			w.wantLog(`msg="delivery attempt"`, "id="+id, "failed=1", "code="+tc.status)
			if n := len(w.dialer.dialed()); n != 0 {
				t.Errorf("%d connections attempted", n)
			}
		})
	}
}

// A DNS failure that is not "no such name" is temporary: retried, then
// delivered once the DNS answers.
func TestDNSTemporaryFailure(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	w.dns.fail["b.test"] = &net.DNSError{Err: "server misbehaving", Name: "b.test", IsTemporary: true}
	q := w.open(true)
	id := w.submit(q, "bob@b.test")
	w.wantLog(`msg="delivery attempt"`, "id="+id, "deferred=1", "code=4.4.3", "DNS lookup of the MX records of b.test failed: server misbehaving")
	w.dns.mu.Lock()
	delete(w.dns.fail, "b.test")
	w.dns.mu.Unlock()
	r.waitReceived(1)
	waitEmpty(t, q)
	if got := w.inbox("alice@a.test"); len(got) != 0 {
		t.Errorf("a temporary DNS failure bounced")
	}
}

// MaxAddresses bounds the addresses one attempt tries.
func TestMaxAddresses(t *testing.T) {
	w := newWorld(t)
	w.opts.MaxAddresses = 3
	w.opts.RetryMin = time.Hour
	var hosts []string
	for i := range 6 {
		h := fmt.Sprintf("mx%d.b.test", i)
		hosts = append(hosts, h)
		ip := fmt.Sprintf("192.0.2.%d", i+1)
		w.dns.setHost(h, ip)
		w.dialer.down[ip] = true
	}
	w.dns.setMX("b.test", hosts...)
	q := w.open(true)
	id := w.submit(q, "bob@b.test")
	w.wantLog(`msg="delivery attempt"`, "id="+id, "deferred=1", "cannot connect to")
	if n := len(w.dialer.dialed()); n != 3 {
		t.Errorf("%d addresses tried, want 3", n)
	}
}

// A per-domain route replaces the MX lookup; the DNS is not asked about
// the domain at all.
func TestRoute(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.opts.Routes = map[string]string{"C.Test": r.addr}
	q := w.open(true)
	w.submit(q, "carol@c.test")
	r.waitReceived(1)
	waitEmpty(t, q)
	w.dns.mu.Lock()
	defer w.dns.mu.Unlock()
	if len(w.dns.asked) != 0 {
		t.Errorf("DNS asked %q for a routed domain", w.dns.asked)
	}
}

// An internationalised domain in U-label form cannot be looked up
// without IDNA: returned with a clear reason, not retried for days.
func TestNonASCIIDomain(t *testing.T) {
	w := newWorld(t)
	q := w.open(true)
	_, err := q.Submit(t.Context(), Message{From: "alice@a.test", User: "alice@a.test", Rcpts: []string{"bob@bücher.test"}, UTF8: true},
		strings.NewReader(testMsg("alice@a.test", []string{"bob@bücher.test"})), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := parseDSN(t, w.waitInbox("alice@a.test", 1)[0])
	if d.types[1] != "message/global-delivery-status" {
		t.Errorf("an SMTPUTF8 message's report is %q, want RFC 6533's type", d.types[1])
	}
	if got := d.fields[1].Get("Final-Recipient"); got != "rfc822; bob@bücher.test" {
		t.Errorf("Final-Recipient %q", got)
	}
	if got := d.fields[1].Get("Status"); got != "5.1.2" {
		t.Errorf("Status %q", got)
	}
}

// A route is more specific than the smarthost and wins over it (as
// Postfix's transport maps over relayhost): the routed domain goes to its
// route, every other domain to the smarthost, in one submission.
func TestRouteOverSmarthost(t *testing.T) {
	w := newWorld(t)
	relay := newRemote(t, remoteOpts{})
	internal := newRemote(t, remoteOpts{})
	w.opts.Smarthost = &Smarthost{Addr: relay.addr, TLS: TLSNone}
	w.opts.Routes = map[string]string{"Corp.Test": internal.addr}
	q := w.open(true)
	id := w.submit(q, "carol@corp.test", "bob@b.test", "dan@CORP.test")
	gotInternal := internal.waitReceived(1)
	gotRelay := relay.waitReceived(1)
	waitEmpty(t, q)
	if r := gotInternal[0].rcpts; len(r) != 2 || r[0] != "carol@corp.test" || r[1] != "dan@CORP.test" {
		t.Errorf("the route got %q, want the two corp.test recipients", r)
	}
	if r := gotRelay[0].rcpts; len(r) != 1 || r[0] != "bob@b.test" {
		t.Errorf("the smarthost got %q, want only bob@b.test", r)
	}
	if n := len(internal.received()) + len(relay.received()); n != 2 {
		t.Errorf("%d messages received in all, want 2", n)
	}
	w.wantLog(`msg="delivery attempt"`, "id="+id, "dest="+internal.addr, "sent=2")
	w.wantLog(`msg="delivery attempt"`, "id="+id, "dest=smarthost", "sent=1")
}
