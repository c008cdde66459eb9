package main

import (
	"context"
	"os"
	"strings"
	"testing"
)

// The README's CLI reference is the help text itself; this keeps the two from drifting.
func TestReadmeShowsTheHelpText(t *testing.T) {
	t.Setenv("COLUMNS", "80")
	var help, stderr strings.Builder
	if err := run(context.Background(), []string{"--help"}, &help, &stderr); err != nil {
		t.Fatalf("--help: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const start = "`./bin/orgscim --help` prints (at 80 columns):\n\n```text\n"
	_, rest, ok := strings.Cut(string(b), start)
	if !ok {
		t.Fatalf("README.md has no %q block", start)
	}
	shown, _, _ := strings.Cut(rest, "```")
	if shown != help.String() {
		t.Errorf("README.md's CLI reference differs from `orgscim --help`; paste the output of COLUMNS=80 ./bin/orgscim --help")
	}
}
