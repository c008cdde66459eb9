// Command orgscim is the orgscim server and its operator CLI. See `orgscim --help`; the
// commands are declared in cli.go.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses, as `orgscim --help` documents them.
const (
	exitError = 1
	exitUsage = 2
	// exitHeld: reconcile held a plan for a person's approval (or, with --dry-run,
	// would hold one).
	exitHeld = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode prints err (run printed usage errors already) and returns the status.
func exitCode(err error, stderr *os.File) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, errUsage) {
		return exitUsage
	}
	fmt.Fprintln(stderr, "orgscim:", err)
	var ec *codedError
	if errors.As(err, &ec) {
		return ec.code
	}
	return exitError
}
