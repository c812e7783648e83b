package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// ControlName is the registry name of the sandbox apps' control endpoint.
const ControlName = "_control"

// RegistryFile is the registry ferry sandbox writes in a state directory.
func RegistryFile(stateDir string) string { return filepath.Join(stateDir, "sandbox.json") }

// Directory finds sandbox clusters, and the apps' control endpoint, by name: addresses set
// on it first (a process running its own sandboxes, or the user's FERRY_SANDBOX_<NAME>
// overrides read by the CLI), then the registry file ferry sandbox writes. Safe for
// concurrent use.
type Directory struct {
	// File is the registry file; "" for none.
	File string

	mu  sync.RWMutex
	set map[string]string
}

// EnvName is the environment variable that overrides a sandbox's address.
func EnvName(name string) string { return "FERRY_SANDBOX_" + key(name) }

func key(name string) string {
	return strings.ToUpper(strings.Trim(strings.ReplaceAll(name, "-", "_"), "_"))
}

// Set fixes a sandbox's address; names compare as EnvName does (case, - and _ alike).
func (d *Directory) Set(name, addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.set == nil {
		d.set = map[string]string{}
	}
	d.set[key(name)] = addr
}

// Address returns where a sandbox listens, or an error saying how to start it.
func (d *Directory) Address(name string) (string, error) {
	d.mu.RLock()
	addr := d.set[key(name)]
	d.mu.RUnlock()
	if addr != "" {
		return addr, nil
	}
	if d.File != "" {
		if b, err := os.ReadFile(d.File); err == nil {
			var reg map[string]string
			if json.Unmarshal(b, &reg) == nil && reg[name] != "" {
				return reg[name], nil
			}
		}
	}
	return "", fmt.Errorf("sandbox %q is not running (start it with ferry sandbox, or set %s)", strings.Trim(name, "_"), EnvName(name))
}
