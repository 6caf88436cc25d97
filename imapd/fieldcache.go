package imapd

import (
	"container/list"
	"strings"
	"sync"
)

// fieldCache keeps, for the header fields that SEARCH HEADER (and SUBJECT,
// FROM, TO, CC, BCC, which the library makes HEADER keys) has asked for,
// each message's decoded values, so that the next search of the same
// field does not open and parse every message's header again. Dovecot
// does the same with its cache file: a field goes into it once a client
// has searched or fetched it. On 10,000 messages a HEADER search read and
// parsed 10,000 headers every time, about 10x Dovecot's time after the
// first (mailbench search).
//
// It is a server-wide LRU bounded by fieldCacheBytes, in memory only, and
// it starts empty: the first search of a field after a start reads every
// header as before. A Maildir message's content never changes under its
// UID and UIDVALIDITY (metaKey); the size is kept too, so that a message
// the store reports at another size is read again.
type fieldCache struct {
	mu    sync.Mutex
	bytes int
	order *list.List // front: most recent; values are *fieldItem
	items map[fieldKey]*list.Element
}

// fieldKey is one message's one field (name lower case).
type fieldKey struct {
	metaKey
	field string
}

type fieldItem struct {
	key    fieldKey
	size   int64    // the message's size when the values were read
	values []string // decoded, in order; empty when the message has no such field
	cost   int
}

// fieldCacheBytes bounds the cache's memory, about 150,000 messages'
// worth of one short field.
const fieldCacheBytes = 16 << 20

func newFieldCache() *fieldCache {
	return &fieldCache{order: list.New(), items: make(map[fieldKey]*list.Element)}
}

// get returns the values of k for a message of size, if cached.
func (c *fieldCache) get(k fieldKey, size int64) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	it := el.Value.(*fieldItem)
	if it.size != size {
		return nil, false
	}
	c.order.MoveToFront(el)
	return it.values, true
}

func (c *fieldCache) put(k fieldKey, size int64, values []string) {
	cost := 160 + len(k.field) // entry, list element, map slot
	for _, v := range values {
		cost += 16 + len(v)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		it := el.Value.(*fieldItem)
		c.bytes += cost - it.cost
		it.size, it.values, it.cost = size, values, cost
		c.order.MoveToFront(el)
	} else {
		c.items[k] = c.order.PushFront(&fieldItem{key: k, size: size, values: values, cost: cost})
		c.bytes += cost
	}
	for c.order.Len() > 1 && c.bytes > fieldCacheBytes {
		el := c.order.Back()
		it := el.Value.(*fieldItem)
		c.order.Remove(el)
		delete(c.items, it.key)
		c.bytes -= it.cost
	}
}

// fieldValues returns the decoded values of every field named key (any
// case) of root, in order.
func fieldValues(root *entity, key string) []string {
	var out []string
	for f := root.Header.Fields(); f.Next(); {
		if strings.EqualFold(f.Key(), key) {
			out = append(out, decodeHeaderValue(f.Value()))
		}
	}
	return out
}

// valuesHave is headerHas over values: RFC 9051 §6.4.4 HEADER: the field
// is present and one of its values contains the string; an empty string
// matches any message with the field.
func valuesHave(values []string, value string) bool {
	if len(values) == 0 {
		return false
	}
	m := newFoldMatcher([]string{value})
	for _, v := range values {
		m.feedString(v)
		if m.done() {
			return true
		}
	}
	return false
}
