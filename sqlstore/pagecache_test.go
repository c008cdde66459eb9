package sqlstore

import (
	"testing"
	"time"
)

// An entry that outlived its ttl must be replaced when the page is read again, not kept
// forever: otherwise every page after the first ttl costs an OFFSET scan and a count.
func TestPageCacheRenewsExpiredEntries(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newPageCache()
	c.now = func() time.Time { return now }
	const conn, key = "c1", "k"

	h := c.lookup(conn, key, 0)
	c.store(key, h.gen, 1000, 100, &pageCursor{createdAt: 1, id: "a"})
	if h = c.lookup(conn, key, 100); !h.hasTotal || !h.hasCursor || h.total != 1000 {
		t.Fatalf("fresh entry: %+v", h)
	}

	now = now.Add(3 * time.Second) // past the 2 s ttl
	h = c.lookup(conn, key, 100)
	if h.hasTotal || h.hasCursor {
		t.Fatalf("expired entry still answers: %+v", h)
	}
	c.store(key, h.gen, 1001, 200, &pageCursor{createdAt: 2, id: "b"})
	h = c.lookup(conn, key, 200)
	if !h.hasTotal || h.total != 1001 || !h.hasCursor || h.cursor.id != "b" {
		t.Fatalf("after re-reading an expired entry: %+v; want the new total and cursor", h)
	}
	if h = c.lookup(conn, key, 100); h.hasCursor {
		t.Errorf("a cursor from the expired entry survived: %+v", h)
	}

	c.changed(conn)
	if h = c.lookup(conn, key, 200); h.hasTotal {
		t.Errorf("a write to the connection must invalidate its entries: %+v", h)
	}
}
