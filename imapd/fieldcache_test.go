package imapd

import (
	"os"
	"path/filepath"
	"runtime"
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

// The cache holds at most fieldCacheBytes: a field of a folder too big
// for it keeps the messages it has and takes no more; another group then
// pushes out the least recently used one whole.
func TestFieldCacheBound(t *testing.T) {
	c := newFieldCache()
	long := strings.Repeat("x", 1000)
	key := func(folder string, uid int) fieldKey {
		return fieldKey{metaKey{user: "u", folder: folder, validity: 1, uid: uint32(uid)}, "subject"}
	}
	for i := range 100000 {
		c.put(key("INBOX", i), 10, []string{long})
	}
	if c.bytes > fieldCacheBytes {
		t.Fatalf("%d bytes, bound %d", c.bytes, fieldCacheBytes)
	}
	if v, ok := c.get(key("INBOX", 0), 10); !ok || v[0] != long {
		t.Error("the first message of the group is gone")
	}
	if _, ok := c.get(key("INBOX", 99999), 10); ok {
		t.Error("the group grew past the bound")
	}
	if _, ok := c.get(key("INBOX", 0), 11); ok {
		t.Error("an entry answered for a message of another size")
	}
	c.put(key("Archive", 1), 10, []string{long}) // no room left beside INBOX's
	if v, ok := c.get(key("Archive", 1), 10); !ok || v[0] != long {
		t.Error("a new group found no room")
	}
	if _, ok := c.get(key("INBOX", 0), 10); ok {
		t.Error("the least recently used group was kept past the bound")
	}
	if c.bytes > fieldCacheBytes || len(c.groups) != c.order.Len() {
		t.Fatalf("%d bytes, %d groups, %d in the list", c.bytes, len(c.groups), c.order.Len())
	}
}

// The cache's count of its memory is close to what the heap holds for it,
// with entries of no value and of one 40-octet value, after evictions
// (found by a review: the first count was half the real size).
func TestFieldCacheCost(t *testing.T) {
	for _, valueLen := range []int{-1, 40} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := newFieldCache()
		field := "subject"
		for i := range 400000 {
			var values []string
			if valueLen >= 0 {
				values = append(values, strings.Repeat(string(rune('a'+i%26)), valueLen))
			}
			c.put(fieldKey{metaKey{user: "alice@example.org", folder: "INBOX", validity: 7, uid: uint32(i)}, field}, 4096, values)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		real := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		ratio := float64(real) / float64(c.bytes)
		n := 0
		for _, g := range c.groups {
			n += len(g.msgs)
		}
		t.Logf("values of %d octets: %d messages, counted %d, heap %d (%.2f)", valueLen, n, c.bytes, real, ratio)
		if c.bytes > fieldCacheBytes || ratio > 1.25 || ratio < 0.5 {
			t.Errorf("values of %d octets: counted %d of %d, heap %d (%.2f)", valueLen, c.bytes, fieldCacheBytes, real, ratio)
		}
		runtime.KeepAlive(c)
	}
}
