package main

import (
	"os"
	"strings"
	"testing"
)

// The README's CLI reference is the help text itself; this keeps the two from drifting.
func TestReadmeShowsTheHelpText(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const start = "`./bin/orgscim help` prints:\n\n```text\n"
	_, rest, ok := strings.Cut(string(b), start)
	if !ok {
		t.Fatalf("README.md has no %q block", start)
	}
	shown, _, _ := strings.Cut(rest, "```")
	if shown != usage {
		t.Errorf("README.md's CLI reference differs from `orgscim help`; paste the output of ./bin/orgscim help")
	}
}
