package main

// Shell completion, generated from the kong model of the command line, so that it
// completes exactly the commands and flags the binary accepts. Each script is
// self-contained: it calls nothing back in the binary.

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/alecthomas/kong"
)

type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: bash, zsh or fish."`
}

func (completionCmd) Help() string {
	return `Completes commands, subcommands, flags and the values of flags with a fixed set
(--idp entra|okta|generic, --status, --state, ...). Load it in the shell's start-up file.

Example:

    # bash (~/.bashrc)
    source <(orgscim completion bash)
    # zsh (~/.zshrc, after compinit)
    source <(orgscim completion zsh)
    # fish
    orgscim completion fish > ~/.config/fish/completions/orgscim.fish`
}

func (c *completionCmd) Run(env *cliEnv, k *kong.Kong) error {
	m := completionModel(k.Model.Node)
	switch c.Shell {
	case "bash":
		return writeBash(env.stdout, m)
	case "zsh":
		return writeZsh(env.stdout, m)
	default:
		return writeFish(env.stdout, m)
	}
}

// completionNode is what completion needs of one command (the root's path is ""): its
// subcommands, its flags (with those of its parents), which of them take a value, and
// the fixed values of those that have them.
type completionNode struct {
	path   string
	subs   []string
	flags  []string
	valued []string
	values map[string][]string
}

func completionModel(root *kong.Node) []completionNode {
	var out []completionNode
	var walk func(n *kong.Node, inherited []*kong.Flag)
	walk = func(n *kong.Node, inherited []*kong.Flag) {
		flags := append(append([]*kong.Flag{}, inherited...), n.Flags...)
		cn := completionNode{path: n.Path(), values: map[string][]string{}}
		if n.Type == kong.ApplicationNode {
			cn.path = ""
		}
		for _, ch := range n.Children {
			if !ch.Hidden {
				cn.subs = append(cn.subs, ch.Name)
			}
		}
		for _, f := range flags {
			if f.Hidden {
				continue
			}
			name := "--" + f.Name
			cn.flags = append(cn.flags, name)
			if f.Short != 0 {
				cn.flags = append(cn.flags, "-"+string(f.Short))
			}
			if f.IsBool() || f.IsCounter() {
				continue
			}
			cn.valued = append(cn.valued, name)
			vals := f.Tag.Get("completion")
			if vals == "" && f.Enum != "" {
				vals = strings.ReplaceAll(f.Enum, ",", " ")
			}
			if vals != "" {
				cn.values[name] = strings.Fields(vals)
			}
		}
		for _, p := range n.Positional {
			if p.Enum != "" {
				cn.values[""] = strings.Split(p.Enum, ",")
			}
		}
		sort.Strings(cn.flags)
		out = append(out, cn)
		for _, ch := range n.Children {
			walk(ch, flags)
		}
	}
	walk(root, nil)
	return out
}

// shCase writes a POSIX case statement (bash and zsh) over the command path that
// prints what pick gives for it.
func shCase(w io.Writer, fn string, m []completionNode, pick func(completionNode) []string) {
	fmt.Fprintf(w, "%s() {\n  case \"$1\" in\n", fn)
	for _, n := range m {
		if words := pick(n); len(words) > 0 {
			fmt.Fprintf(w, "    %q) echo %q ;;\n", n.path, strings.Join(words, " "))
		}
	}
	fmt.Fprint(w, "  esac\n}\n")
}

// shValues writes the case statement of the fixed values of "PATH FLAG" ("PATH " for a
// positional argument).
func shValues(w io.Writer, fn string, m []completionNode) {
	fmt.Fprintf(w, "%s() {\n  case \"$1 $2\" in\n", fn)
	for _, n := range m {
		for _, flag := range sortedValueKeys(n.values) {
			fmt.Fprintf(w, "    %q) echo %q ;;\n", n.path+" "+flag, strings.Join(n.values[flag], " "))
		}
	}
	fmt.Fprint(w, "  esac\n}\n")
}

func sortedValueKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// shHelpers are the lookup functions both bash and zsh scripts use.
func shHelpers(w io.Writer, m []completionNode) {
	shCase(w, "__orgscim_subs", m, func(n completionNode) []string { return n.subs })
	shCase(w, "__orgscim_flags", m, func(n completionNode) []string { return n.flags })
	shCase(w, "__orgscim_valued", m, func(n completionNode) []string { return n.valued })
	shValues(w, "__orgscim_values", m)
	// __orgscim_at WORD...: the command path the words name, skipping flags and the
	// values of flags that take one.
	fmt.Fprint(w, `__orgscim_at() {
  local p="" skip=0 w
  for w in "$@"; do
    if [ "$skip" = 1 ]; then skip=0; continue; fi
    case "$w" in
      -*=*) ;;
      -*) case " $(__orgscim_valued "$p") " in *" $w "*) skip=1 ;; esac ;;
      *) case " $(__orgscim_subs "$p") " in *" $w "*) p="${p:+$p }$w" ;; esac ;;
    esac
  done
  echo "$p"
}
`)
}

func writeBash(w io.Writer, m []completionNode) error {
	fmt.Fprint(w, "# bash completion for orgscim; load with: source <(orgscim completion bash)\n")
	shHelpers(w, m)
	_, err := fmt.Fprint(w, `_orgscim() {
  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
  local p vals
  p="$(__orgscim_at "${COMP_WORDS[@]:1:COMP_CWORD-1}")"
  case " $(__orgscim_valued "$p") " in
    *" $prev "*)
      vals="$(__orgscim_values "$p" "$prev")"
      if [ -n "$vals" ]; then COMPREPLY=($(compgen -W "$vals" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi
      return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(__orgscim_flags "$p")" -- "$cur"))
  elif vals="$(__orgscim_subs "$p")"; [ -n "$vals" ]; then
    COMPREPLY=($(compgen -W "$vals" -- "$cur"))
  elif vals="$(__orgscim_values "$p" "")"; [ -n "$vals" ]; then
    COMPREPLY=($(compgen -W "$vals" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _orgscim orgscim
`)
	return err
}

func writeZsh(w io.Writer, m []completionNode) error {
	fmt.Fprint(w, "#compdef orgscim\n# zsh completion for orgscim; load with: source <(orgscim completion zsh) after compinit\n")
	shHelpers(w, m)
	_, err := fmt.Fprint(w, `_orgscim() {
  local p vals prev="${words[CURRENT-1]}"
  p="$(__orgscim_at "${(@)words[2,CURRENT-1]}")"
  case " $(__orgscim_valued "$p") " in
    *" $prev "*)
      vals="$(__orgscim_values "$p" "$prev")"
      if [ -n "$vals" ]; then compadd -- ${=vals}; else _files; fi
      return ;;
  esac
  if [[ "$PREFIX" == -* ]]; then
    compadd -- ${=$(__orgscim_flags "$p")}
  elif vals="$(__orgscim_subs "$p")"; [ -n "$vals" ]; then
    compadd -- ${=vals}
  elif vals="$(__orgscim_values "$p" "")"; [ -n "$vals" ]; then
    compadd -- ${=vals}
  else
    _files
  fi
}
compdef _orgscim orgscim
`)
	return err
}

func writeFish(w io.Writer, m []completionNode) error {
	fmt.Fprint(w, "# fish completion for orgscim; install with: orgscim completion fish > ~/.config/fish/completions/orgscim.fish\n")
	fishSwitch := func(fn string, pick func(completionNode) []string) {
		fmt.Fprintf(w, "function %s\n    switch \"$argv[1]\"\n", fn)
		for _, n := range m {
			if words := pick(n); len(words) > 0 {
				fmt.Fprintf(w, "        case %s\n            printf '%%s\\n' %s\n", fishQuote(n.path), strings.Join(words, " "))
			}
		}
		fmt.Fprint(w, "    end\nend\n")
	}
	fishSwitch("__orgscim_subs", func(n completionNode) []string { return n.subs })
	fishSwitch("__orgscim_flags", func(n completionNode) []string { return n.flags })
	fishSwitch("__orgscim_valued", func(n completionNode) []string { return n.valued })
	fmt.Fprint(w, "function __orgscim_values\n    switch \"$argv[1] $argv[2]\"\n")
	for _, n := range m {
		for _, flag := range sortedValueKeys(n.values) {
			fmt.Fprintf(w, "        case %s\n            printf '%%s\\n' %s\n", fishQuote(n.path+" "+flag), strings.Join(n.values[flag], " "))
		}
	}
	fmt.Fprint(w, "    end\nend\n")
	_, err := io.WriteString(w, `function __orgscim_at
    set -l p ""
    set -l skip 0
    for w in $argv
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case '-*=*'
            case '-*'
                if contains -- $w (__orgscim_valued "$p")
                    set skip 1
                end
            case '*'
                if contains -- $w (__orgscim_subs "$p")
                    set p (string trim -- "$p $w")
                end
        end
    end
    echo $p
end
function __orgscim_complete
    set -l toks (commandline -opc)
    set -l cur (commandline -ct)
    set -l p (__orgscim_at $toks[2..-1])
    if test (count $toks) -gt 1; and contains -- $toks[-1] (__orgscim_valued "$p")
        set -l vals (__orgscim_values "$p" $toks[-1])
        if test (count $vals) -gt 0
            printf '%s\n' $vals
        else
            __fish_complete_path $cur
        end
        return
    end
    set -l subs (__orgscim_subs "$p")
    set -l args (__orgscim_values "$p" "")
    if string match -q -- '-*' $cur
        __orgscim_flags "$p"
    else if test (count $subs) -gt 0
        printf '%s\n' $subs
    else if test (count $args) -gt 0
        printf '%s\n' $args
    else
        __fish_complete_path $cur
    end
end
complete -c orgscim -f -a '(__orgscim_complete)'
`)
	return err
}

// fishQuote quotes s for a fish case label.
func fishQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}
