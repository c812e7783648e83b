// Package runbooks holds the sample runbooks shipped with Ferry and the runbook JSON Schema.
package runbooks

import "embed"

// FS holds the sample runbooks, so ferry demo works from any directory.
//
//go:embed *.yaml
var FS embed.FS
