package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// completionScript writes `orgscim completion SHELL` to a file and returns its path.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	out, errOut, err := run2(t, "completion", shell)
	if err != nil || errOut != "" {
		t.Fatalf("completion %s: %v %s", shell, err, errOut)
	}
	p := filepath.Join(t.TempDir(), "orgscim."+shell)
	if err := os.WriteFile(p, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// shell runs script in the named shell, or skips when the machine has no such shell
// (bash is always there; zsh and fish are Debian packages of the same names).
func shell(t *testing.T, name, script string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install %s)", name, name)
	}
	cmd := exec.Command(bin, "-c", script)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s\nscript:\n%s", name, err, out, script)
	}
	return string(out)
}

// shellWords splits a typed line into its words, and the same single-quoted for a
// shell array.
func shellWords(line string) (words, quoted []string) {
	words = strings.Split(line, " ")
	for _, w := range words {
		quoted = append(quoted, "'"+w+"'")
	}
	return words, quoted
}

func sortedFields(s string) string {
	f := strings.Fields(s)
	sort.Strings(f)
	return strings.Join(f, " ")
}

// The completions each shell offers, for a command line typed so far: subcommands,
// flags (the command's and --database), the fixed values of a flag, and what the words
// before say (a flag's value is not taken for a command).
var completionCases = []struct {
	line string // typed so far; the last word is being completed
	want string // sorted
}{
	{"orgscim or", "org"},
	{"orgscim org ", "create move update"},
	{"orgscim token rotate c", "cancel complete"},
	{"orgscim connection create --idp ", "entra generic okta"},
	{"orgscim org update --slug acme --status e", "ended"},
	{"orgscim --database sqlite:x.db connection cr", "create"},
	{"orgscim org create --name org --pa", "--parent"},
	{"orgscim reconcile show --js", "--json"},
	{"orgscim completion ", "bash fish zsh"},
	{"orgscim apikey revoke --d", "--database"},
}

func TestCompletionBash(t *testing.T) {
	script := completionScript(t, "bash")
	for _, c := range completionCases {
		words, quoted := shellWords(c.line)
		got := shell(t, "bash", "source "+script+"; COMP_WORDS=("+strings.Join(quoted, " ")+"); COMP_CWORD="+
			strconv.Itoa(len(words)-1)+"; _orgscim; echo \"${COMPREPLY[@]}\"")
		if sortedFields(got) != c.want {
			t.Errorf("bash %q: %q, want %q", c.line, sortedFields(got), c.want)
		}
	}
}

func TestCompletionZsh(t *testing.T) {
	script := completionScript(t, "zsh")
	for _, c := range completionCases {
		// compadd exists only inside a completion widget: a stand-in prints what it is
		// given, and _orgscim runs with the words zsh would pass.
		words, quoted := shellWords(c.line)
		got := shell(t, "zsh", "compdef() { :; }; compadd() { shift; print -l -- \"$@\"; }; _files() { :; }; source "+script+
			"; words=("+strings.Join(quoted, " ")+"); CURRENT="+strconv.Itoa(len(words))+"; PREFIX="+quoted[len(quoted)-1]+
			"; _orgscim")
		var kept []string
		for _, w := range strings.Fields(got) {
			if strings.HasPrefix(w, words[len(words)-1]) {
				kept = append(kept, w) // zsh filters by PREFIX itself
			}
		}
		if sortedFields(strings.Join(kept, " ")) != c.want {
			t.Errorf("zsh %q: %q, want %q", c.line, sortedFields(strings.Join(kept, " ")), c.want)
		}
	}
}

func TestCompletionFish(t *testing.T) {
	script := completionScript(t, "fish")
	for _, c := range completionCases {
		got := shell(t, "fish", "source "+script+"; complete -C '"+c.line+"'")
		var names []string
		for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
			name, _, _ := strings.Cut(l, "\t")
			names = append(names, name)
		}
		if sortedFields(strings.Join(names, " ")) != c.want {
			t.Errorf("fish %q: %q, want %q", c.line, sortedFields(strings.Join(names, " ")), c.want)
		}
	}
}
