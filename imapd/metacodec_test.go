package imapd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mailsuite/mailsuite/mailbox"
)

// sameLayout compares two layouts: offsets and content fields of every
// entity.
func sameLayout(t testing.TB, a, b *entity, path string) {
	t.Helper()
	if a.HeaderStart != b.HeaderStart || a.BodyStart != b.BodyStart || a.End != b.End || a.BodyLines != b.BodyLines ||
		a.Type != b.Type || a.Subtype != b.Subtype || a.Encoding != b.Encoding || !reflect.DeepEqual(a.Params, b.Params) {
		t.Fatalf("entity %s: %+v\nvs %+v", path, a, b)
	}
	if len(a.Parts) != len(b.Parts) || (a.Message == nil) != (b.Message == nil) {
		t.Fatalf("entity %s: %d/%v parts vs %d/%v", path, len(a.Parts), a.Message != nil, len(b.Parts), b.Message != nil)
	}
	for i := range a.Parts {
		sameLayout(t, a.Parts[i], b.Parts[i], path+"."+string(rune('1'+i)))
	}
	if a.Message != nil {
		sameLayout(t, a.Message, b.Message, path+".msg")
	}
}

// asJSON renders a value for comparison: dates as the instant and offset
// the library writes, whatever their *time.Location.
func asJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkMetaRoundTrip: the stored form of a parsed message decodes to the
// same layout, ENVELOPE and BODYSTRUCTURE, as written to either kind of
// client.
func checkMetaRoundTrip(t testing.TB, msg []byte) {
	t.Helper()
	size := int64(len(msg))
	for _, full := range []bool{true, false} {
		var root *entity
		var err error
		if full {
			root, err = parseLayout(bytes.NewReader(msg))
		} else {
			root, err = parseHead(bytes.NewReader(msg), size)
		}
		if err != nil {
			t.Fatal(err)
		}
		m := newMeta(root, size, full)
		enc := encodeMeta(m)
		d, err := decodeMeta(enc, size)
		if err != nil {
			t.Fatalf("full=%v: %v", full, err)
		}
		if _, err := decodeMeta(enc, size+1); err == nil {
			t.Fatal("decoded for another size")
		}
		if d.full != full || !d.trimmed {
			t.Fatalf("full %v trimmed %v", d.full, d.trimmed)
		}
		sameLayout(t, m.layout, d.layout, "root")
		for _, utf8OK := range []bool{true, false} {
			if a, b := asJSON(t, wireEnvelope(m.envelope, utf8OK)), asJSON(t, wireEnvelope(d.envelope, utf8OK)); a != b {
				t.Fatalf("envelope:\n%s\nvs %s", a, b)
			}
			if !full {
				continue
			}
			if a, b := asJSON(t, wireStructure(m.structure, utf8OK)), asJSON(t, wireStructure(d.structure, utf8OK)); a != b {
				t.Fatalf("structure:\n%s\nvs %s", a, b)
			}
		}
		if !bytes.Equal(encodeMeta(d), enc) {
			t.Fatal("stored form not stable")
		}
	}
}

func TestMetaCodecRoundTrip(t *testing.T) {
	msgs := append([]string{mpMessage,
		"Subject: x\r\n\r\nbody",
		"no header at all",
		"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in\r\nFrom: a@b\r\n\r\nhi\r\n--d--\r\n",
		"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nSubject: deep\r\n\r\nx",
		"Subject: =?iso-8859-1?q?caf=E9?=\r\nFrom: J\xc3\xbcrgen <j@example.net>\r\nX-Other: dropped\r\n" +
			"Subject: second subject\r\nContent-Type: text/plain;\r\n charset=utf-8\r\n\r\nbody\r\n",
	}, searchCorpus...)
	for _, m := range msgs {
		checkMetaRoundTrip(t, []byte(m))
	}
	// Garbage does not decode.
	root, _ := parseLayout(strings.NewReader(mpMessage))
	enc := encodeMeta(newMeta(root, int64(len(mpMessage)), true))
	for i := 0; i < len(enc); i++ {
		if _, err := decodeMeta(enc[:i], int64(len(mpMessage))); err == nil {
			t.Fatalf("a stored form cut at %d of %d decoded", i, len(enc))
		}
	}
}

// FuzzMetaCodec: a parsed message round-trips through the stored form, and
// any bytes decode without panic into a layout within the message.
func FuzzMetaCodec(f *testing.F) {
	f.Add([]byte(mpMessage))
	f.Add([]byte(searchCorpus[2]))
	f.Add([]byte("Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: in\r\n\r\nhi\r\n--d--\r\n"))
	f.Add([]byte{1, 1, 10, 0, 5, 10, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkMetaRoundTrip(t, data)
		for _, size := range []int64{int64(len(data)), 10, 1 << 20} {
			m, err := decodeMeta(data, size)
			if err != nil {
				continue
			}
			var walk func(e *entity, depth int)
			walk = func(e *entity, depth int) {
				if depth > maxMIMEDepth+2 || e.End > size || e.HeaderStart > e.BodyStart || e.BodyStart > e.End {
					t.Fatalf("decoded entity out of bounds: %+v", e)
				}
				for _, p := range e.Parts {
					walk(p, depth+1)
				}
				if e.Message != nil {
					walk(e.Message, depth+1)
				}
			}
			walk(m.layout, 0)
		}
	})
}

// hideMeta is a store whose folders do not keep parsed structure, to
// benchmark and test the server without the store's copy.
type hideMeta struct{ mailbox.Store }
type hideMetaAccount struct{ mailbox.Account }
type plainFolder struct{ mailbox.Folder }

func (s hideMeta) Account(u string) (mailbox.Account, error) {
	a, err := s.Store.Account(u)
	if err != nil {
		return nil, err
	}
	return hideMetaAccount{a}, nil
}

func (a hideMetaAccount) Open(name string, ro bool) (mailbox.Folder, error) {
	f, err := a.Account.Open(name, ro)
	if err != nil {
		return nil, err
	}
	return plainFolder{f}, nil
}

// ENVELOPE and BODYSTRUCTURE are parsed once per message: after a restart
// (an empty in-memory cache) they come from the store's copy, byte for byte
// the same, without reading the message again. SEARCH HEADER still sees
// every field.
func TestMetaStoredAcrossRestart(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(mpMessage, simple("second", "hello\r\n"))
	const fetch = "FETCH 1:* (ENVELOPE BODYSTRUCTURE BODY BODY.PEEK[1.1.MIME] BODY.PEEK[2.HEADER] BINARY.SIZE[1.2])"
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	want := r.ok("a", fetch)
	if got := e.srv.parses.Load(); got != 2 {
		t.Fatalf("%d parses for 2 messages", got)
	}
	r.ok("b", fetch)
	if got := e.srv.parses.Load(); got != 2 {
		t.Fatalf("parsed again while warm: %d", got)
	}
	path := filepath.Join(e.dir, "mail", "example.org", "alice", "mailsuite-cache")
	if st, err := os.Stat(path); err != nil || st.Size() < 100 {
		t.Fatalf("store's copy: %v %v", st, err)
	}

	e.restart()
	r = e.rawLogin()
	r.ok("s", "SELECT INBOX")
	if got := r.ok("a", fetch); !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart:\n%q\nwant\n%q", got, want)
	}
	if got := e.srv.parses.Load(); got != 0 {
		t.Fatalf("%d messages parsed again after a restart", got)
	}
	// A field the store's copy does not keep is still searched.
	if u := r.ok("h", `SEARCH HEADER MIME-Version 1.0`); len(u) != 1 || u[0] != "* SEARCH 1" {
		t.Fatalf("SEARCH HEADER: %q", u)
	}
	if u := r.ok("t", `SEARCH TEXT "inner message"`); len(u) != 1 || u[0] != "* SEARCH 1" {
		t.Fatalf("SEARCH TEXT: %q", u)
	}
	if got := r.ok("c", fetch); !reflect.DeepEqual(got, want) {
		t.Fatalf("after SEARCH:\n%q\nwant\n%q", got, want)
	}

	// A header-only parse (HEADER.FIELDS) is upgraded to the full one
	// when BODYSTRUCTURE is first asked for, and both are kept.
	e.deliver(simple("third", "x\r\n"))
	r.ok("n", "NOOP")
	r.ok("d", "FETCH 3 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
	r.ok("f", "FETCH 3 (BODYSTRUCTURE)")
	e.restart()
	r = e.rawLogin()
	r.ok("s", "SELECT INBOX")
	r.ok("f", "FETCH 3 (BODYSTRUCTURE ENVELOPE)")
	if got := e.srv.parses.Load(); got != 0 {
		t.Fatalf("%d parses after the upgrade was stored", got)
	}
}

// Benchmarks of FETCH ENVELOPE BODYSTRUCTURE on 300 messages with an
// empty in-memory cache, as after a restart: with the store's copy (the
// messages are not read) and without it (each message is parsed).
func BenchmarkFetchStructureColdStored(b *testing.B) { benchColdStructure(b, false) }
func BenchmarkFetchStructureColdParsed(b *testing.B) { benchColdStructure(b, true) }

func benchColdStructure(b *testing.B, hide bool) {
	const n = 300
	var wrap func(mailbox.Store) mailbox.Store
	if hide {
		wrap = func(s mailbox.Store) mailbox.Store { return hideMeta{s} }
	}
	e := startEnv(b, envConfig{wrapStore: wrap})
	c := e.login()
	for i := 0; i < n; i++ {
		appendMsg(b, c, "INBOX", mpMessage, nil)
	}
	c.Close()
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	r.ok("w", "FETCH 1:* (ENVELOPE BODYSTRUCTURE)") // stores the copies
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.srv.cache.reset()
		if u := r.ok("a", "FETCH 1:* (ENVELOPE BODYSTRUCTURE)"); len(u) != n {
			b.Fatalf("%d responses", len(u))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/message")
}

// Sessions parse and store structures at the same time as others expunge
// and move messages: every answer is whole, none names another message,
// and the store's copies stay sound (run under -race).
func TestMetaStoredConcurrently(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < 40; i++ {
		e.deliver(mpMessage)
	}
	done := make(chan error, 3)
	for k := 0; k < 2; k++ {
		r := e.rawLogin()
		r.ok("s", "SELECT INBOX")
		go func() {
			for j := 0; j < 5; j++ {
				e.srv.cache.reset()
				u, tag := r.cmd("f", "UID FETCH 1:* (BODYSTRUCTURE ENVELOPE)")
				if !strings.HasPrefix(tag, "f OK") {
					done <- fmt.Errorf("FETCH: %q", tag)
					return
				}
				for _, l := range u {
					if strings.Contains(l, "BODYSTRUCTURE") && !strings.Contains(l, `"mixed"`) || strings.Contains(l, "FETCH (") && !strings.Contains(l, "BODYSTRUCTURE") && !strings.Contains(l, "FLAGS") {
						done <- fmt.Errorf("odd FETCH response %q", l)
						return
					}
				}
			}
			done <- nil
		}()
	}
	r := e.rawLogin() // logged in here: raw's helpers fail the test from this goroutine only
	r.ok("s", "SELECT INBOX")
	go func() {
		for j := 1; j <= 10; j++ {
			for _, c := range []string{fmt.Sprintf("UID MOVE %d Archive", j), fmt.Sprintf(`UID STORE %d +FLAGS.SILENT (\Deleted)`, 10+j), "EXPUNGE"} {
				if _, tag := r.cmd("m", c); !strings.HasPrefix(tag, "m OK") {
					done <- fmt.Errorf("%s: %q", c, tag)
					return
				}
			}
		}
		done <- nil
	}()
	for i := 0; i < 3; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// What is stored decodes to what a fresh parse gives.
	e.restart()
	r = e.rawLogin()
	r.ok("s", "SELECT Archive")
	got := r.ok("f", "FETCH 1:* (BODYSTRUCTURE)")
	if len(got) != 10 {
		t.Fatalf("%d moved messages", len(got))
	}
	for _, l := range got {
		if strings.Replace(l, strings.Fields(l)[1], "1", 1) != strings.Replace(got[0], strings.Fields(got[0])[1], "1", 1) {
			t.Fatalf("stored structures differ:\n%s\n%s", l, got[0])
		}
	}
}
