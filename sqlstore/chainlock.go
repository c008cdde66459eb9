package sqlstore

import (
	"context"
	"sort"
	"sync"

	"github.com/orgscim/orgscim/audit"
)

// chainLocks queues this process's transactions for an audit chain in Go before they
// queue in the database. The database lock on the chain's head is what keeps a chain
// linear, across replicas too; but when dozens of a tenant's requests wait on one row
// lock, every release wakes them all in PostgreSQL, and the handover costs more than the
// append. Queued here, only the next one in line asks the database.
type chainLocks struct {
	mu    sync.Mutex
	locks map[string]*chainLock
}

type chainLock struct {
	ch   chan struct{} // a one-slot semaphore
	refs int
}

// lock takes the chains in name order (the order appendAudit locks their heads in) and
// returns the function that releases them; it gives up waiting when ctx is done, and
// the transaction then fails on its own context.
func (c *chainLocks) lock(ctx context.Context, chains []string) func() {
	var held []string
	release := func() {
		for _, name := range held {
			c.put(name)
		}
	}
	for _, name := range chains {
		l := c.get(name)
		select {
		case l.ch <- struct{}{}:
			held = append(held, name)
		case <-ctx.Done():
			c.unref(name)
			return release
		}
	}
	return release
}

func (c *chainLocks) get(name string) *chainLock {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.locks == nil {
		c.locks = map[string]*chainLock{}
	}
	l := c.locks[name]
	if l == nil {
		l = &chainLock{ch: make(chan struct{}, 1)}
		c.locks[name] = l
	}
	l.refs++
	return l
}

// put releases a held chain.
func (c *chainLocks) put(name string) {
	c.mu.Lock()
	l := c.locks[name]
	c.mu.Unlock()
	<-l.ch
	c.unref(name)
}

// unref forgets a chain nobody holds or waits for, so the map does not grow with the
// number of tenants ever seen.
func (c *chainLocks) unref(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.locks[name]
	if l.refs--; l.refs == 0 {
		delete(c.locks, name)
	}
}

func chainsOf(events []audit.Event) []string {
	seen := map[string]bool{}
	var out []string
	for i := range events {
		if c := audit.ChainOf(&events[i]); !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}
