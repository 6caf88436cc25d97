package imapd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// HEADER searches answer the same from the field cache as from the
// messages: repeated fields, encoded words, empty values, any case of the
// field's name, absent fields; and the second search of a field reads no
// message (shown by an edit on disk that only a read would see).
func TestSearchHeaderFieldCache(t *testing.T) {
	e := newEnv(t, nil)
	e.deliver(
		"Subject: alpha\r\nX-Tag: one\r\nX-Tag: two\r\n\r\nbody\r\n",
		"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_Bern?=\r\n\r\nbody\r\n",
		"subject: BETA\r\nX-Tag:\r\n\r\nbody\r\n",
		"From: nobody@example.net\r\n\r\nbody\r\n",
	)
	r := e.rawLogin()
	r.ok("s", "SELECT INBOX")
	cases := []struct{ crit, want string }{
		{`HEADER Subject alpha`, "1"},
		{`HEADER SUBJECT beta`, "3"},
		{`SUBJECT "aus bern"`, "2"},
		{`HEADER X-Tag two`, "1"},
		{`HEADER x-tag ""`, "1 3"},
		{`HEADER Subject ""`, "1 2 3"},
		{`NOT HEADER Subject ""`, "4"},
		{`HEADER X-Missing ""`, ""},
		{`OR HEADER X-Tag one SUBJECT beta`, "1 3"},
	}
	search := func(crit string) string {
		u := r.ok("q", "SEARCH "+crit)
		if len(u) != 1 || !strings.HasPrefix(u[0], "* SEARCH") {
			t.Fatalf("SEARCH %s: %q", crit, u)
		}
		return strings.TrimSpace(strings.TrimPrefix(u[0], "* SEARCH"))
	}
	for round := 1; round <= 2; round++ { // the first fills the cache, the second reads it
		for _, c := range cases {
			if got := search(c.crit); got != c.want {
				t.Errorf("round %d: SEARCH %s = %q, want %q", round, c.crit, got, c.want)
			}
		}
	}

	// Message 1's file edited in place at the same size: a search that
	// read the file would now miss it; the cached values still find it.
	var path string
	for rel, body := range e.diskFiles() {
		if strings.HasPrefix(body, "Subject: alpha") {
			path = filepath.Join(e.dir, "mail", rel)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), "alpha", "omega", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := search(`HEADER Subject alpha`); got != "1" {
		t.Errorf("after the edit: %q: the search read the file again", got)
	}
	if got := search(`TEXT omega`); got != "1" {
		t.Errorf("TEXT omega = %q: the edit is not on disk", got)
	}
}

// The cache holds about fieldCacheBytes, dropping the least recently used.
func TestFieldCacheBound(t *testing.T) {
	c := newFieldCache()
	long := strings.Repeat("x", 1000)
	for i := range 100000 {
		c.put(fieldKey{metaKey{user: "u", folder: "INBOX", validity: 1, uid: uint32(i)}, "subject"}, 10, []string{long})
	}
	if c.bytes > fieldCacheBytes || c.order.Len() != len(c.items) {
		t.Fatalf("%d bytes in %d entries (%d in the map), bound %d", c.bytes, c.order.Len(), len(c.items), fieldCacheBytes)
	}
	last := fieldKey{metaKey{user: "u", folder: "INBOX", validity: 1, uid: 99999}, "subject"}
	if v, ok := c.get(last, 10); !ok || v[0] != long {
		t.Error("the newest entry is gone")
	}
	if _, ok := c.get(fieldKey{metaKey{user: "u", folder: "INBOX", validity: 1, uid: 0}, "subject"}, 10); ok {
		t.Error("the oldest entry is still there")
	}
	if _, ok := c.get(last, 11); ok {
		t.Error("an entry answered for a message of another size")
	}
}
