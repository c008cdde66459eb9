package main

import (
	"fmt"

	"github.com/orgscim/orgscim/httpmetrics"
)

type versionCmd struct {
	jsonFlag
}

func (versionCmd) Help() string {
	return `The module version (a tag when installed with go install ...@VERSION, "(devel)"
from a checkout), the VCS revision and its time as go build stamped them, and the Go
version. A running server exposes the same as the Prometheus gauge
orgscim_build_info{version,revision,goversion} 1 on /metrics.

Example:

    orgscim version
    orgscim version --json`
}

func (c *versionCmd) Run(env *cliEnv) error {
	b := httpmetrics.ReadBuild()
	if c.JSON {
		return printJSON(env.stdout, b)
	}
	rev := b.Revision
	switch {
	case rev == "":
		rev = "unknown revision"
	case b.Modified:
		rev += " (modified)"
	}
	if b.Time != "" {
		rev += " " + b.Time
	}
	_, err := fmt.Fprintf(env.stdout, "orgscim %s, %s, %s\n", b.Version, rev, b.GoVersion)
	return err
}
