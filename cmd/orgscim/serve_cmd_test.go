package main

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orgscim/orgscim/internal/dbtest"
)

// The serve command itself: it listens, answers, and returns cleanly when its context
// is cancelled, which is what SIGTERM and SIGINT do in main.
func TestServeCommandStopsOnCancel(t *testing.T) {
	dbURL := dbtest.URL(t, "sqlite")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--database", dbURL,
			"--rate-limit", "50", "--rate-burst", "10", "--request-timeout", "5s"}, stdout, stderr)
	}()
	listening := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
	var base string
	for deadline := time.Now().Add(time.Minute); base == ""; {
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v\n%s", err, stderr.String())
		default:
		}
		if m := listening.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", stderr.String())
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if st, _, body := plainGet(t, base, path); st != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, st, body)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after cancel: %v", err)
		}
	case <-time.After(time.Minute): // a hang, not a performance bound
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop logged:\n%s", stderr.String())
	}
}

func TestServeFlags(t *testing.T) {
	var stdout, stderr strings.Builder
	// Help is an answer, not a mistake: on stdout, exit 0.
	for _, help := range []string{"-h", "--help"} {
		stdout.Reset()
		if err := run(context.Background(), []string{"serve", help}, &stdout, &stderr); err != nil {
			t.Errorf("serve %s: %v", help, err)
		}
		for _, want := range []string{"--addr=HOST:PORT", "--rate-limit", "--rate-burst", "--request-timeout", "/metrics", "never publicly",
			"$ORGSCIM_ADDR", "Example:", "--db-max-conns"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("serve %s does not mention %q:\n%s", help, want, stdout.String())
			}
		}
	}
	for _, args := range [][]string{
		{"serve", "--rate-limit", "-1"},
		{"serve", "--rate-burst", "-5"},
		{"serve", "--request-timeout", "0s"},
		{"serve", "--db-max-conns=-1"},
		{"serve", "--db-max-conns", "3"},
	} {
		stderr.Reset()
		if err := run(context.Background(), args, &stdout, &stderr); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	t.Setenv("ORGSCIM_RATE_LIMIT", "lots")
	if err := run(context.Background(), []string{"serve"}, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), "ORGSCIM_RATE_LIMIT") {
		t.Errorf("a malformed ORGSCIM_RATE_LIMIT: %v", err)
	}
}

// TestServeLogLevel: --log-level warn leaves the access log out (and its cost, see
