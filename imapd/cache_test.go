package imapd

import (
	"bytes"
	"strings"
	"testing"
)

func TestMetaCacheEvicts(t *testing.T) {
	c := newMetaCache(3)
	key := func(uid uint32) metaKey { return metaKey{user: "u", folder: "INBOX", validity: 1, uid: uid} }
	for uid := uint32(1); uid <= 4; uid++ {
		c.put(key(uid), &msgMeta{cost: 10})
	}
	if c.get(key(1)) != nil {
		t.Errorf("oldest entry kept past the entry limit")
	}
	c.get(key(2)) // 2 becomes the most recent
	c.put(key(5), &msgMeta{cost: 10})
	if c.get(key(2)) == nil || c.get(key(3)) != nil {
		t.Errorf("eviction is not least-recently-used")
	}
	// The byte budget evicts too, but never the entry just put.
	c.put(key(6), &msgMeta{cost: metaCacheBytes})
	if c.get(key(6)) == nil || c.get(key(5)) != nil || c.bytes != metaCacheBytes {
		t.Errorf("byte budget: %d bytes, %d entries", c.bytes, c.order.Len())
	}
	if k := (metaKey{user: "other", folder: "INBOX", validity: 1, uid: 6}); c.get(k) != nil {
		t.Errorf("another user's message found")
	}
}

// A message with very many header octets keeps what its structure needs
// and no more than the budget.
func TestLayoutHeaderBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=z\r\n\r\n")
	for i := 0; i < 40; i++ {
		b.WriteString("--z\r\nX-Filler: " + strings.Repeat("f", 20000) + "\r\nContent-Type: text/html\r\n\r\nx\r\n")
	}
	b.WriteString("--z--\r\n")
	root, err := parseLayout(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(root.Parts) != 40 {
		t.Fatalf("%d parts", len(root.Parts))
	}
	for i, p := range root.Parts {
		if p.Type != "text" || p.Subtype != "html" {
			t.Errorf("part %d: %s/%s", i+1, p.Type, p.Subtype)
		}
	}
	if cost := metaCost(root); cost > maxHeadersKept+maxHeaderKeep+41*(512+maxContentKeep) {
		t.Errorf("layout keeps %d octets", cost)
	}
	if !bytes.Contains([]byte(b.String()), []byte("X-Filler")) {
		t.Fatal("test message broken")
	}
}
