package httpmetrics

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Build identifies the running binary: what `orgscim version` prints and what the
// orgscim_build_info gauge labels, so a dashboard shows which build each replica runs.
type Build struct {
	// Version is the main module's version: a tag such as v1.4.0 when built from a
	// module download (go install ...@v1.4.0), "(devel)" when built from a checkout.
	Version string `json:"version"`
	// Revision and Time are the VCS commit and its time, as go build stamps them
	// (empty when built with -buildvcs=false or outside a repository); Modified is
	// whether the working tree had uncommitted changes.
	Revision string `json:"revision"`
	Time     string `json:"time"`
	Modified bool   `json:"modified"`
	// GoVersion is the Go toolchain that built it.
	GoVersion string `json:"go_version"`
}

// ReadBuild reads the build information the Go toolchain embedded in the binary.
func ReadBuild() Build {
	b := Build{Version: "(devel)", GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if v := info.Main.Version; v != "" {
		b.Version = v
	}
	if info.GoVersion != "" {
		b.GoVersion = info.GoVersion
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// buildInfo is the constant gauge orgscim_build_info{version,revision,goversion} 1,
// the Prometheus convention for exposing a build as labels.
func buildInfo(b Build) prometheus.Collector {
	rev := b.Revision
	if rev == "" {
		rev = "unknown"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help:        "A constant 1, labelled with the running binary's version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": rev, "goversion": b.GoVersion},
	})
	g.Set(1)
	return g
}
