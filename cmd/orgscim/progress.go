package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows long work (load, import, reconcile, audit verify) as a bar with its
// rate and the time left, on stderr. It is shown only when stderr is a terminal and the
// command prints no JSON: a script, a pipe or a log file gets nothing extra. A nil
// *progress is a valid, silent one, so callers need no checks.
type progress struct {
	bar *progressbar.ProgressBar
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newProgress returns a bar of total units (-1: unknown, a spinner with the rate) on
// stderr when stderr is a terminal and asJSON is false; else nil.
func newProgress(stderr io.Writer, asJSON bool, total int64, desc, unit string) *progress {
	if asJSON || !isTerminal(stderr) {
		return nil
	}
	return progressTo(stderr, total, desc, unit)
}

// progressTo draws on w whatever w is; newProgress decides whether to.
func progressTo(w io.Writer, total int64, desc, unit string) *progress {
	return &progress{bar: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionShowIts(),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionUseANSICodes(true),
	)}
}

// Add counts n more units done.
func (p *progress) Add(n int) {
	if p != nil {
		_ = p.bar.Add(n)
	}
}

// Describe names what is being done now (a phase, a rule).
func (p *progress) Describe(desc string) {
	if p != nil {
		p.bar.Describe(desc)
	}
}

// Reset starts over with a new total, for the next phase.
func (p *progress) Reset(total int64, desc string) {
	if p != nil {
		p.bar.Reset()
		p.bar.ChangeMax64(total)
		p.bar.Describe(desc)
	}
}

// Done clears the bar, so that the command's own output follows on a clean line.
func (p *progress) Done() {
	if p != nil {
		_ = p.bar.Clear()
		_ = p.bar.Exit()
	}
}

// spin keeps a spinner turning (with the time elapsed) while work without steps runs;
// the returned func stops it.
func (p *progress) spin() (stop func()) {
	if p == nil {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = p.bar.Add(0)
				_ = p.bar.RenderBlank()
			}
		}
	}()
	return func() { close(done); <-stopped }
}
