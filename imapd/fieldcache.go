package imapd

import (
	"container/list"
	"slices"
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
// It is a server-wide LRU of (folder, field) groups bounded by
// fieldCacheBytes, in memory only, and it starts empty: the first search
// of a field after a start reads every header as before. A Maildir
// message's content never changes under its UID and UIDVALIDITY
// (metaKey); the size is kept too, so that a message the store reports at
// another size is read again.
type fieldCache struct {
	mu     sync.Mutex
	bytes  int
	order  *list.List // of *fieldGroup; front: most recently used
	groups map[groupKey]*fieldGroup
}

// fieldKey is one message's one field (name lower case).
type fieldKey struct {
	metaKey
	field string
}

// groupKey is one field of one folder: the unit the LRU keeps or drops,
// so that an entry per message costs only its map slot and its values.
type groupKey struct {
	user, folder string
	validity     uint32
	field        string
}

type fieldGroup struct {
	key  groupKey
	el   *list.Element
	msgs map[uint32]fieldEntry
	cost int
}

type fieldEntry struct {
	size   int64    // the message's size when the values were read
	values []string // decoded, in order; nil when the message has no such field
}

// fieldCacheBytes bounds the cache's memory: about 100,000 messages'
// worth of one 40-octet field, 170,000 of a field they lack (TestFieldCacheCost checks the count
// against the heap).
const fieldCacheBytes = 16 << 20

// Costs, in octets: a message's map slot (with the map's spare room), a
// group besides its messages, a value's string header.
const (
	slotCost  = 96
	groupCost = 256
	valueCost = 16
)

// roundAlloc is about what the allocator takes for n octets.
func roundAlloc(n int) int {
	switch {
	case n == 0:
		return 0
	case n <= 16:
		return 16
	case n <= 128:
		return (n + 15) &^ 15
	default:
		return (n + 63) &^ 63
	}
}

func newFieldCache() *fieldCache {
	return &fieldCache{order: list.New(), groups: make(map[groupKey]*fieldGroup)}
}

func (k fieldKey) group() groupKey {
	return groupKey{user: k.user, folder: k.folder, validity: k.validity, field: k.field}
}

// get returns the values of k for a message of size, if cached.
func (c *fieldCache) get(k fieldKey, size int64) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.groups[k.group()]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(g.el)
	e, ok := g.msgs[k.uid]
	if !ok || e.size != size {
		return nil, false
	}
	return e.values, true
}

// put keeps values for k. Older groups are dropped to make room; a group
// that alone would pass the bound takes no more messages.
func (c *fieldCache) put(k fieldKey, size int64, values []string) {
	values = slices.Clip(values)
	cost := slotCost
	for _, v := range values {
		cost += valueCost + roundAlloc(len(v))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	gk := k.group()
	g, ok := c.groups[gk]
	if !ok {
		g = &fieldGroup{key: gk, msgs: make(map[uint32]fieldEntry), cost: groupCost}
		g.el = c.order.PushFront(g)
		c.groups[gk] = g
		c.bytes += g.cost
	} else {
		c.order.MoveToFront(g.el)
	}
	if old, ok := g.msgs[k.uid]; ok {
		c.drop(g, k.uid, old)
	}
	for c.bytes+cost > fieldCacheBytes && c.order.Back() != g.el {
		c.evict(c.order.Back().Value.(*fieldGroup))
	}
	if c.bytes+cost > fieldCacheBytes {
		return // this group alone fills the cache
	}
	g.msgs[k.uid] = fieldEntry{size: size, values: values}
	g.cost += cost
	c.bytes += cost
}

// drop takes one message's entry out of g.
func (c *fieldCache) drop(g *fieldGroup, uid uint32, e fieldEntry) {
	cost := slotCost
	for _, v := range e.values {
		cost += valueCost + roundAlloc(len(v))
	}
	delete(g.msgs, uid)
	g.cost -= cost
	c.bytes -= cost
}

// evict drops a whole group.
func (c *fieldCache) evict(g *fieldGroup) {
	c.order.Remove(g.el)
	delete(c.groups, g.key)
	c.bytes -= g.cost
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

// valuesHave answers RFC 9051 §6.4.4 HEADER over a message's values of
// the field: the field is present and one of its values contains the
// string (ignoring case); an empty string matches any message with the
// field.
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
