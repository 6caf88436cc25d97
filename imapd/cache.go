package imapd

import (
	"container/list"
	"sync"

	"github.com/emersion/go-imap/v2"
)

// msgMeta is what parsing a message gives FETCH and SEARCH. It is
// immutable once made, so sessions share it without locks.
type msgMeta struct {
	size     int64
	layout   *entity // the root; with parts only when full
	full     bool    // layout covers the whole message, not just its header
	envelope *imap.Envelope
	// structure is BODYSTRUCTURE (extended; BODY is written from it too),
	// set when full.
	structure imap.BodyStructure
	cost      int // estimated octets held, for the cache budget
	// trimmed: decoded from the store's copy (metacodec.go), which
	// keeps no header fields, only what was made of them.
	trimmed bool
}

// metaKey names a message across users and folders; UIDVALIDITY makes a
// UID reused after a folder's rebuild a different message.
type metaKey struct {
	user, folder string
	validity     uint32
	uid          uint32
}

// metaCacheBytes bounds the memory of the cache, whatever its entry count.
const metaCacheBytes = 64 << 20

// metaCache is a small LRU of parsed messages, shared by the sessions of
// a server, in front of the copy the store keeps beside its index
// (metacodec.go). It holds at most max entries and about metaCacheBytes.
type metaCache struct {
	mu    sync.Mutex
	max   int
	bytes int
	order *list.List // front: most recent; values are *cacheItem
	items map[metaKey]*list.Element
}

type cacheItem struct {
	key  metaKey
	meta *msgMeta
}

func newMetaCache(max int) *metaCache {
	return &metaCache{max: max, order: list.New(), items: make(map[metaKey]*list.Element)}
}

func (c *metaCache) get(k metaKey) *msgMeta {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheItem).meta
}

func (c *metaCache) put(k metaKey, m *msgMeta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		it := el.Value.(*cacheItem)
		c.bytes += m.cost - it.meta.cost
		it.meta = m
		c.order.MoveToFront(el)
	} else {
		c.items[k] = c.order.PushFront(&cacheItem{key: k, meta: m})
		c.bytes += m.cost
	}
	for c.order.Len() > 1 && (c.order.Len() > c.max || c.bytes > metaCacheBytes) {
		el := c.order.Back()
		it := el.Value.(*cacheItem)
		c.order.Remove(el)
		delete(c.items, it.key)
		c.bytes -= it.meta.cost
	}
}

// reset empties the cache (benchmarks of a cold start).
func (c *metaCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	clear(c.items)
	c.bytes = 0
}
