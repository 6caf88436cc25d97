package queue

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// txtLookup answers DKIM key queries from the records Keygen printed,
// parsed back from their zone-file form.
func txtLookup(t testing.TB, recs []KeyRecord) func(string) ([]string, error) {
	zone := map[string]string{}
	strRE := regexp.MustCompile(`"([^"]*)"`)
	for _, r := range recs {
		line := r.Zone()
		name, _, _ := strings.Cut(line, " ")
		var val strings.Builder
		for _, m := range strRE.FindAllStringSubmatch(line, -1) {
			if len(m[1]) > 255 {
				t.Errorf("TXT string of %d octets (max 255)", len(m[1]))
			}
			val.WriteString(m[1]) // RFC 6376 §3.6.2.2: strings are joined
		}
		zone[strings.TrimSuffix(name, ".")] = val.String()
	}
	return func(domain string) ([]string, error) {
		if v, ok := zone[domain]; ok {
			return []string{v}, nil
		}
		return nil, errors.New("no such TXT record: " + domain)
	}
}

// Mail of a domain with keys is signed with each (Ed25519 and RSA), and
// both signatures verify with the published records.
func TestDKIMSigning(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	keyDir := filepath.Join(w.dir, "dkim")
	recs, err := Keygen(keyDir, "A.test", time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Name() != "ms20261203e._domainkey.a.test" || recs[1].Name() != "ms20261203r._domainkey.a.test" ||
		!strings.HasPrefix(recs[0].Value, "v=DKIM1; k=ed25519; p=") || !strings.HasPrefix(recs[1].Value, "v=DKIM1; k=rsa; p=") {
		t.Fatalf("records %+v", recs)
	}
	w.opts.DKIMDir = keyDir
	q := w.open(true)
	w.wantLog(`msg="dkim signing on"`, "domain=a.test")
	msg := "From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: signed\r\nDate: Thu, 03 Dec 2026 12:00:00 +0000\r\n" +
		"Message-ID: <1@a.test>\r\n\r\nhello\r\n\r\n\r\n"
	_, err = q.Submit(t.Context(), Message{From: "alice@a.test", User: "alice@a.test", Rcpts: []string{"bob@b.test"}, SignDomain: "a.test"},
		strings.NewReader(msg), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := r.waitReceived(1)[0].data
	if !strings.HasSuffix(got, msg) || strings.Count(got, "DKIM-Signature:") != 2 {
		t.Fatalf("sent:\n%s", got)
	}
	vs, err := dkim.VerifyWithOptions(strings.NewReader(got), &dkim.VerifyOptions{LookupTXT: txtLookup(t, recs)})
	if err != nil {
		t.Fatal(err)
	}
	var ok []string
	for _, v := range vs {
		if v.Err != nil {
			t.Errorf("signature %s: %v", v.Domain, v.Err)
			continue
		}
		ok = append(ok, v.Domain)
	}
	if !slices.Equal(ok, []string{"a.test", "a.test"}) {
		t.Errorf("verified: %q", ok)
	}
	// The relays' usual changes (re-folded header, white space at line
	// ends) do not break a relaxed signature; a changed body does.
	changed := strings.Replace(got, "Subject: signed", "Subject:   signed", 1)
	changed = strings.Replace(changed, "hello\r\n", "hello  \r\n", 1)
	if vs, _ := dkim.VerifyWithOptions(strings.NewReader(changed), &dkim.VerifyOptions{LookupTXT: txtLookup(t, recs)}); vs[0].Err != nil {
		t.Errorf("relaxed canonicalisation: %v", vs[0].Err)
	}
	tampered := strings.Replace(got, "hello", "HELLO", 1)
	if vs, _ := dkim.VerifyWithOptions(strings.NewReader(tampered), &dkim.VerifyOptions{LookupTXT: txtLookup(t, recs)}); vs[0].Err == nil {
		t.Error("a changed body still verifies")
	}
}

// A domain without keys is sent unsigned.
func TestDKIMNoKeys(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	keyDir := filepath.Join(w.dir, "dkim")
	if _, err := Keygen(keyDir, "other.test", time.Now()); err != nil {
		t.Fatal(err)
	}
	w.opts.DKIMDir = keyDir
	q := w.open(true)
	_, err := q.Submit(t.Context(), Message{From: "alice@a.test", User: "alice@a.test", Rcpts: []string{"bob@b.test"}, SignDomain: "a.test"},
		strings.NewReader("From: alice@a.test\r\n\r\nx\r\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.waitReceived(1)[0].data; strings.Contains(got, "DKIM-Signature") {
		t.Errorf("signed without a key:\n%s", got)
	}
}

// Keygen refuses to replace keys; LoadKeys names a file it cannot use.
func TestDKIMKeyErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Keygen(dir, "a.test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := Keygen(dir, "a.test", time.Now().Add(48*time.Hour)); !errors.Is(err, ErrKeysExist) {
		t.Errorf("second keygen: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "a.test"))
	for _, e := range ents {
		if fi, _ := e.Info(); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), fi.Mode().Perm())
		}
	}

	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(edKey)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	for _, tc := range []struct {
		file, content, want string
	}{
		{"bad.pem", "not a key", "not a PEM"},
		{"ec.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})), "unsupported key type"},
		{"trunc.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der[:20]})), "trunc.pem"},
		{"bad_sel.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "not a valid selector"},
	} {
		d := t.TempDir()
		os.MkdirAll(filepath.Join(d, "x.test"), 0o700)
		os.WriteFile(filepath.Join(d, "x.test", tc.file), []byte(tc.content), 0o600)
		_, err := LoadKeys(d)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.file) {
			t.Errorf("%s: %v, want an error naming the file and %q", tc.file, err, tc.want)
		}
	}
	if k, err := LoadKeys(filepath.Join(dir, "missing")); err != nil || len(k.Domains()) != 0 {
		t.Errorf("missing dir: %v %v", k, err)
	}
}

// RFC 6376 §8.15: From, Subject, To, Cc, Date, Message-ID and Reply-To
// are signed once more than they occur, so a field of those names added
// on the way, above or below the original, breaks the signature; the
// message as sent verifies.
func TestDKIMOversigning(t *testing.T) {
	w := newWorld(t)
	r := newRemote(t, remoteOpts{})
	w.to("b.test", r)
	keyDir := filepath.Join(w.dir, "dkim")
	recs, err := Keygen(keyDir, "a.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.opts.DKIMDir = keyDir
	q := w.open(true)
	msg := "Received: from client by mail.a.test\r\nFrom: Alice <alice@a.test>\r\nTo: bob@b.test\r\nCc: carol@b.test\r\nSubject: pay the invoice\r\n" +
		"Date: Thu, 03 Dec 2026 12:00:00 +0000\r\nMessage-ID: <1@a.test>\r\nReply-To: alice@a.test\r\n\r\nhello\r\n"
	_, err = q.Submit(t.Context(), Message{From: "alice@a.test", User: "alice@a.test", Rcpts: []string{"bob@b.test"}, SignDomain: "a.test"},
		strings.NewReader(msg), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := r.waitReceived(1)[0].data
	verify := func(m string) []error {
		vs, err := dkim.VerifyWithOptions(strings.NewReader(m), &dkim.VerifyOptions{LookupTXT: txtLookup(t, recs)})
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 2 {
			t.Fatalf("%d signatures, want 2", len(vs))
		}
		return []error{vs[0].Err, vs[1].Err}
	}
	if errs := verify(got); errs[0] != nil || errs[1] != nil {
		t.Fatalf("the message as sent does not verify: %v", errs)
	}
	sigs := dkimTags(got)
	if len(sigs) != 2 {
		t.Fatalf("%d DKIM-Signature fields parsed, want 2", len(sigs))
	}
	for _, sig := range sigs {
		count := map[string]int{}
		for _, k := range strings.Split(sig["h"], ":") {
			count[strings.ToLower(strings.TrimSpace(k))]++
		}
		for _, name := range []string{"from", "subject", "to", "cc", "date", "message-id", "reply-to"} {
			if count[name] != 2 {
				t.Errorf("%s listed %d times in h=%s, want twice (once present, once absent)", name, count[name], sig["h"])
			}
		}
	}
	body := strings.Index(got, "\r\n\r\n")
	for _, tc := range []struct{ name, field string }{
		{"From", "From: Mallory <ceo@a.test>\r\n"},
		{"Subject", "Subject: new bank account\r\n"},
		{"To", "To: someone@b.test\r\n"},
		{"Cc", "Cc: someone@b.test\r\n"},
		{"Date", "Date: Fri, 04 Dec 2026 12:00:00 +0000\r\n"},
		{"Message-ID", "Message-ID: <2@a.test>\r\n"},
		{"Reply-To", "Reply-To: mallory@evil.test\r\n"},
	} {
		below := got[:body+2] + tc.field + got[body+2:]
		above := tc.field + got
		for where, m := range map[string]string{"below": below, "above": above} {
			if errs := verify(m); errs[0] == nil || errs[1] == nil {
				t.Errorf("a second %s added %s the header still verifies: %v", tc.name, where, errs)
			}
		}
	}
}

// dkimTags returns the tags of each DKIM-Signature field of a message.
func dkimTags(msg string) []map[string]string {
	var out []map[string]string
	head, _, _ := strings.Cut(msg, "\r\n\r\n")
	unfolded := strings.NewReplacer("\r\n ", " ", "\r\n\t", " ").Replace(head)
	for _, line := range strings.Split(unfolded, "\r\n") {
		v, ok := strings.CutPrefix(line, "DKIM-Signature:")
		if !ok {
			continue
		}
		tags := map[string]string{}
		for _, tv := range strings.Split(v, ";") {
			k, val, _ := strings.Cut(tv, "=")
			tags[strings.TrimSpace(k)] = strings.Join(strings.Fields(val), "")
		}
		out = append(out, tags)
	}
	return out
}
