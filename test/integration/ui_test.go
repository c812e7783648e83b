package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferryhq/ferry/workflows"
)

// ferry server serves Temporal's Web UI next to the embedded server; ferry run and ferry
// status print the run's page, and the UI's API finds the run by its runbook.
func TestCLIServesTheWebUI(t *testing.T) {
	c := newCLI(t)
	c.ui = freePort(t)
	host := c.start("server")
	t.Cleanup(func() { _ = host.cmd.Process.Kill(); <-host.done })
	base := "http://127.0.0.1:" + strconv.Itoa(c.ui)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(host.out.String(), "Temporal Web UI on "+base) {
		if time.Now().After(deadline) {
			t.Fatalf("ferry server did not announce the UI:\n%s", host.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	gate := filepath.Join(t.TempDir(), "gate.yaml")
	_ = os.WriteFile(gate, []byte(gateRunbook), 0o600)
	link := base + "/namespaces/default/workflows/ui-run"
	if out, code := c.run("run", "--detach", "--id", "ui-run", gate); code != 0 || !strings.Contains(out, "web UI: "+link) {
		t.Fatalf("run: %d\n%s", code, out)
	}
	if out, code := c.run("status", "ui-run"); code != 0 || !strings.Contains(out, "web UI: "+link) {
		t.Fatalf("status: %d\n%s", code, out)
	}
	page := get(t, link)
	if !strings.Contains(page, "<html") {
		t.Fatalf("the run's page is not the UI:\n%.500s", page)
	}
	found := get(t, base+"/api/v1/namespaces/default/workflows?query="+url.QueryEscape(workflows.SearchAttributeRunbook+`="kill-test"`))
	if !strings.Contains(found, `"ui-run"`) {
		t.Fatalf("the UI's API does not find the run by its runbook:\n%.1000s", found)
	}
	// What a person sees: the run's page in a real browser, waiting at its gate, with the
	// run's summary and the command a person must run next.
	browse(t, link, "ferry-ui-run.png", "User Metadata", "ui-run", "Running", workflows.RunbookWorkflowName,
		"runbook kill-test", "ferry approve --step cutover_gate ui-run")
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%.500s", u, resp.Status, b)
	}
	return string(b)
}

// browse opens u in headless Chromium (Debian's package, which the test task installs), opens
// the page's section titled open (when not empty), waits until the page shows every string of
// want (in any case: the UI capitalises), and saves a full-page screenshot under the
// temporary directory as name. It returns the page's text.
func browse(t *testing.T, u, name, open string, want ...string) string {
	t.Helper()
	bctx := openPage(t, u)
	if open != "" {
		click := fmt.Sprintf(`(() => { const e = document.evaluate(%q, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue; if (!e) return false; (e.closest("button, summary, [role=button]") || e).click(); return true })()`, "//*[normalize-space(text())='"+open+"']")
		if _, err := chromedp.Run(bctx, chromedp.Poll[chromedp.Void](click, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
			t.Fatalf("%s: no section %q to open: %v", u, open, err)
		}
	}
	// The page's text with that of its frames (the UI renders Markdown summaries in them).
	const pageText = `(document.body ? document.body.innerText : "") + [...document.querySelectorAll("iframe")].map(f => { try { return "\n" + f.contentDocument.body.innerText } catch (e) { return "" } }).join("")`
	conds := make([]string, len(want))
	for i, w := range want {
		conds[i] = fmt.Sprintf("(%s).toLowerCase().includes(%q)", pageText, strings.ToLower(w))
	}
	_, waitErr := chromedp.Run(bctx, chromedp.Poll[chromedp.Void](strings.Join(conds, " && "), chromedp.WithPollingTimeout(45*time.Second)))
	text, err := chromedp.Run(bctx, chromedp.Evaluate[string](pageText))
	if err != nil {
		t.Fatal(err)
	}
	if png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
		shot := filepath.Join(os.TempDir(), name)
		if err := os.WriteFile(shot, png, 0o644); err == nil {
			t.Logf("screenshot of %s: %s", u, shot)
		}
		_ = os.WriteFile(strings.TrimSuffix(shot, filepath.Ext(shot))+".txt", []byte(text), 0o644)
	}
	if waitErr != nil {
		t.Fatalf("%s never showed %q (%v); it shows:\n%.2000s", u, want, waitErr, text)
	}
	return text
}

// evaluate opens u in headless Chromium and returns what the JavaScript expression gives.
func evaluate(t *testing.T, u, expr string) string {
	t.Helper()
	v, err := chromedp.Run(openPage(t, u), chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("%s: %s: %v", u, expr, err)
	}
	return v
}

// openPage opens u in headless Chromium (Debian's package, which the test task installs),
// closed when the test ends.
func openPage(t *testing.T, u string) context.Context {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no chromium: the test task installs it (go tool task browser:install)")
		}
		t.Skip("no chromium: go tool task browser:install")
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.WindowSize(1400, 1800))...)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(bctx, chromedp.Navigate(u)); err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
	return bctx
}
