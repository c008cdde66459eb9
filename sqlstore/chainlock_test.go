package sqlstore

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestChainLocksQueueByChainAndForgetIdleOnes(t *testing.T) {
	var c chainLocks
	ctx := context.Background()
	unlockA := c.lock(ctx, []string{"a", "b"})

	got := make(chan string, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); u := c.lock(ctx, []string{"b"}); got <- "b"; u() }()
	go func() { defer wg.Done(); u := c.lock(ctx, []string{"c"}); got <- "c"; u() }()
	if first := <-got; first != "c" {
		t.Fatalf("%q went first; chain c is free and b is held", first)
	}
	select {
	case <-got:
		t.Fatal("chain b was taken while held")
	case <-time.After(50 * time.Millisecond):
	}
	unlockA()
	if second := <-got; second != "b" {
		t.Fatalf("got %q after releasing b", second)
	}
	wg.Wait()

	// A waiter whose context ends gives up without taking the chain.
	unlock := c.lock(ctx, []string{"d"})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	c.lock(cctx, []string{"d"})()
	unlock()
	if n := len(c.locks); n != 0 {
		t.Errorf("%d chains remembered after everyone left", n)
	}
}
