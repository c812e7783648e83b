package main

import (
	"fmt"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is Ferry's module version and the commit it was built from, as the Go toolchain
// records them in the binary ("(devel)" for a build of a working tree).
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " (commit " + rev + modified + ")"
	}
	return v + " " + bi.GoVersion
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print Ferry's version and the commit it was built from",
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return cli.Exit("version takes no arguments", exitInvalid)
			}
			fmt.Println("ferry", version())
			return nil
		},
	}
}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: source <(ferry completion bash)",
		ArgsUsage: "bash|zsh",
		Action: func(c *cli.Context) error {
			script, ok := completions[c.Args().First()]
			if c.NArg() != 1 || !ok {
				return cli.Exit("completion: name a shell: bash or zsh", exitInvalid)
			}
			fmt.Print(script)
			return nil
		},
	}
}

// completions ask ferry itself for the words that may come next (urfave/cli's
// --generate-bash-completion), so they follow the commands and flags of the binary in use.
var completions = map[string]string{
	"bash": `_ferry() {
  local cur words
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=$("${COMP_WORDS[0]}" "${COMP_WORDS[@]:1:COMP_CWORD-1}" --generate-bash-completion 2>/dev/null)
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  [[ ${#COMPREPLY[@]} -eq 0 ]] && COMPREPLY=($(compgen -f -- "$cur"))
  return 0
}
complete -o filenames -F _ferry ferry
`,
	"zsh": `#compdef ferry
_ferry() {
  local -a words_
  words_=("${(@f)$(${words[1]} ${words[2,CURRENT-1]} --generate-bash-completion 2>/dev/null)}")
  if (( ${#words_} )); then
    compadd -a words_
  fi
  _files
}
compdef _ferry ferry
`,
}
