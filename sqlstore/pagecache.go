package sqlstore

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// pageCache makes an IdP's full sync — GET /Users?startIndex=1,101,201,… — cost one
// index range per page instead of an OFFSET scan and a count(*) over the whole
// connection per page, which grows with the square of its size.
//
// For a query (connection, filter) it remembers the total and, for each page end, the
// sort key of the last row, so that the next page continues from it. Every write to a
// connection through this process bumps its generation and so invalidates its entries;
// entries also expire after ttl, which bounds how long another replica's writes can
// go unseen in a total.
type pageCache struct {
	mu      sync.Mutex
	entries map[string]*pageEntry
	gens    sync.Map // connection id -> *atomic.Int64
	ttl     time.Duration
	max     int
	now     func() time.Time
}

type pageEntry struct {
	gen     int64
	at      time.Time
	total   int
	cursors map[int]pageCursor // offset of the next row -> sort key of the row before it
}

type pageCursor struct {
	createdAt int64
	id        string
}

func newPageCache() *pageCache {
	return &pageCache{entries: map[string]*pageEntry{}, ttl: 2 * time.Second, max: 4096, now: time.Now}
}

func (c *pageCache) gen(conn string) *atomic.Int64 {
	g, _ := c.gens.LoadOrStore(conn, new(atomic.Int64))
	return g.(*atomic.Int64)
}

// changed records a write to the connection's resources.
func (c *pageCache) changed(conn string) { c.gen(conn).Add(1) }

func pageKey(table, conn, where string, args []any) string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%v", table, conn, where, args)
}

// pageHint is what the cache knows of one page of a query.
type pageHint struct {
	gen       int64
	total     int
	hasTotal  bool
	cursor    pageCursor
	hasCursor bool
}

// lookup returns what is known of the page of key that starts at offset.
func (c *pageCache) lookup(conn, key string, offset int) pageHint {
	h := pageHint{gen: c.gen(conn).Load()}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil || e.gen != h.gen || c.now().Sub(e.at) > c.ttl {
		return h
	}
	h.total, h.hasTotal = e.total, true
	if offset > 0 {
		h.cursor, h.hasCursor = e.cursors[offset]
	}
	return h
}

// store records a total, and a cursor for the page that ends before offset next.
func (c *pageCache) store(key string, gen int64, total, next int, cur *pageCursor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil || e.gen != gen || c.now().Sub(e.at) > c.ttl {
		if e == nil && len(c.entries) >= c.max {
			for k := range c.entries { // drop an arbitrary entry: the cache only saves work
				delete(c.entries, k)
				break
			}
		}
		e = &pageEntry{gen: gen, at: c.now(), total: total, cursors: map[int]pageCursor{}}
		c.entries[key] = e
	}
	if cur != nil && len(e.cursors) < 100_000 {
		e.cursors[next] = *cur
	}
}
