//go:build unix

package admin_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poolguard/poolguard"
	"github.com/poolguard/poolguard/admin"
)

var screenshot = flag.String("screenshot", "", "write a screenshot of the page to this PNG file (docs/admin.png: -screenshot=../docs/admin.png)")

// TestBrowser loads the page in headless Chromium against a pool with
// leaked leases, checks what it shows, and pauses a partition by clicking.
func TestBrowser(t *testing.T) {
	ctx := ctxTimeout(t, 2*time.Minute)
	pool := newPool(t, "")
	part := pool.Partition("sync")
	leaked := syncUserData(ctx, t, part)
	syncUserData(ctx, t, part)
	base := newHandler(t, pool, admin.Options{Title: "userapi", Token: token, Refresh: 250 * time.Millisecond})
	b := startBrowser(ctx, t)

	b.call(ctx, "Page.navigate", map[string]any{"url": base + "/"})
	row := fmt.Sprintf(`document.querySelector('tr[data-pid="%d"]')`, leaked.PID())
	b.waitFor(ctx, row+` !== null`, "the leaked lease's row")
	var text string
	b.eval(ctx, row+`.innerText`, &text)
	for _, want := range []string{"admin/main_test.go:", "admin_test.syncUserData", "sync", strconv.Itoa(int(leaked.PID())), "SELECT ?"} {
		if !strings.Contains(text, want) {
			t.Errorf("the lease's row lacks %q:\n%s", want, text)
		}
	}
	var inUse string
	b.eval(ctx, `document.querySelector('[data-partition="sync"] .num.use b').textContent`, &inUse)
	if inUse != "2" {
		t.Errorf("sync shows %q in use, want 2", inUse)
	}
	b.eval(ctx, `document.querySelector("#callsites tr").innerText`, &text)
	if !strings.Contains(text, "admin_test.syncUserData") || !strings.Contains(text, "\t2\t") {
		t.Errorf("the first call site is %q, want syncUserData's two leases", text)
	}
	b.eval(ctx, `document.body.innerText`, &text)
	noSecrets(t, "the page", text)

	b.click(ctx, "#token")
	b.call(ctx, "Input.insertText", map[string]any{"text": token})
	b.click(ctx, `button[data-pause="sync"]`)
	b.waitFor(ctx, `document.querySelector('[data-partition="sync"] .badge.paused') !== null`, "the sync partition shown paused")
	b.eval(ctx, `document.getElementById("flash").innerText`, &text)
	if !strings.Contains(text, `partition "sync" paused`) {
		t.Errorf("after clicking pause, the page says %q", text)
	}
	if _, err := part.Acquire(ctx); !errors.Is(err, poolguard.ErrPaused) { //leakcheck:ignore the partition is paused: this acquire fails
		t.Errorf("acquire after clicking pause: %v, want ErrPaused", err)
	}

	revoke := fmt.Sprintf(`button[data-revoke="%d"]`, leaked.PID())
	b.click(ctx, revoke)
	b.waitFor(ctx, `document.querySelector('`+revoke+`').innerText === "Confirm revoke"`, "the revoke button asking to confirm")
	b.click(ctx, revoke)
	b.waitFor(ctx, row+` === null`, "the revoked lease gone from the page")
	if _, err := leaked.Exec(ctx, "SELECT 1"); !errors.Is(err, poolguard.ErrLeaseRevoked) {
		t.Errorf("the holder's next call after clicking revoke: %v, want ErrLeaseRevoked", err)
	}
	if len(b.errors) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(b.errors, "\n"))
	}
}

// browser is headless Chromium driven over the DevTools protocol, on the
// pipe Chromium offers for it (--remote-debugging-pipe): messages are JSON,
// each ended by a NUL byte, written to its fd 3 and read from its fd 4.
type browser struct {
	t       *testing.T
	w       io.WriteCloser
	msgs    chan []byte // messages from the browser; closed when it exits
	session string      // the page's DevTools session
	next    int
	errors  []string // exceptions and errors the page logged
}

// startBrowser starts Chromium with an empty page, or skips the test when
// it is not installed, unless CI is set.
func startBrowser(ctx context.Context, t *testing.T) *browser {
	t.Helper()
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed, and CI is set: install it (apt-get install -y chromium)")
		}
		t.Skip("chromium is not installed (apt-get install -y chromium); set CI to make this test fail instead")
	}
	toBrowser, ourW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ourR, fromBrowser, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"--remote-debugging-pipe", "--window-size=1280,900", "--hide-scrollbars", "about:blank")
	cmd.ExtraFiles = []*os.File{toBrowser, fromBrowser}   // its fds 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // to stop its helper processes with it
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	toBrowser.Close()
	fromBrowser.Close()
	b := &browser{t: t, w: ourW, msgs: make(chan []byte, 64)}
	exited, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		defer close(b.msgs)
		r := bufio.NewReader(ourR)
		for {
			msg, err := r.ReadBytes(0)
			if err != nil {
				break
			}
			select {
			case b.msgs <- msg[:len(msg)-1]:
			case <-done: // nobody reads any more: drop the rest
			}
		}
		ourR.Close()
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b.session = ""
		b.send(cctx, "Browser.close", nil)
		cancel()
		close(done)
		ourW.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	var targets struct {
		TargetInfos []struct{ TargetID, Type string }
	}
	if err := json.Unmarshal(b.call(ctx, "Target.getTargets", nil), &targets); err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets.TargetInfos {
		if tg.Type == "page" {
			var att struct{ SessionID string }
			if err := json.Unmarshal(b.call(ctx, "Target.attachToTarget", map[string]any{"targetId": tg.TargetID, "flatten": true}), &att); err != nil {
				t.Fatal(err)
			}
			b.session = att.SessionID
			break
		}
	}
	if b.session == "" {
		t.Fatalf("chromium has no page: %+v", targets)
	}
	b.call(ctx, "Runtime.enable", nil)
	b.call(ctx, "Log.enable", nil)
	return b
}

// send calls a DevTools method, on the page once attached, and returns its
// result.
func (b *browser) send(ctx context.Context, method string, params any) (json.RawMessage, error) {
	b.next++
	id := b.next
	req := map[string]any{"id": id, "method": method, "params": params}
	if b.session != "" {
		req["sessionId"] = b.session
	}
	msg, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := b.w.Write(append(msg, 0)); err != nil {
		return nil, err
	}
	for {
		var data []byte
		select {
		case m, ok := <-b.msgs:
			if !ok {
				return nil, errors.New("chromium exited")
			}
			data = m
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		var reply struct {
			ID     int
			Result json.RawMessage
			Error  *struct{ Message string }
			Method string
			Params struct {
				ExceptionDetails struct{ Exception struct{ Description string } }
				Entry            struct{ Level, Text, URL string }
			}
		}
		if err := json.Unmarshal(data, &reply); err != nil {
			return nil, err
		}
		switch p := reply.Params; {
		case reply.Method == "Runtime.exceptionThrown":
			b.errors = append(b.errors, p.ExceptionDetails.Exception.Description)
		case reply.Method == "Log.entryAdded" && p.Entry.Level == "error":
			b.errors = append(b.errors, p.Entry.Text+" ("+p.Entry.URL+")")
		}
		if reply.ID != id {
			continue // an event
		}
		if reply.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, reply.Error.Message)
		}
		return reply.Result, nil
	}
}

func (b *browser) call(ctx context.Context, method string, params any) json.RawMessage {
	b.t.Helper()
	res, err := b.send(ctx, method, params)
	if err != nil {
		b.t.Fatal(err)
	}
	return res
}

// eval evaluates a JavaScript expression in the page, awaiting a promise,
// and stores its value in v.
func (b *browser) eval(ctx context.Context, expr string, v any) {
	b.t.Helper()
	var res struct {
		Result           struct{ Value json.RawMessage }
		ExceptionDetails *struct {
			Text      string
			Exception struct{ Description string }
		}
	}
	raw := b.call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true})
	if err := json.Unmarshal(raw, &res); err != nil {
		b.t.Fatal(err)
	}
	if e := res.ExceptionDetails; e != nil {
		b.t.Fatalf("evaluating %s: %s %s", expr, e.Text, e.Exception.Description)
	}
	if v != nil {
		if err := json.Unmarshal(res.Result.Value, v); err != nil {
			b.t.Fatalf("evaluating %s: %v (%s)", expr, err, res.Result.Value)
		}
	}
}

// waitFor waits until the JavaScript condition holds in the page.
func (b *browser) waitFor(ctx context.Context, cond, what string) {
	b.t.Helper()
	for {
		var ok bool
		b.eval(ctx, "(() => { try { return Boolean("+cond+"); } catch { return false; } })()", &ok) // the page may still be loading
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			var text string
			b.eval(context.Background(), "document.body.innerText", &text)
			b.t.Fatalf("timed out waiting for %s; the page logged %q and shows:\n%s", what, b.errors, text)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// click clicks the middle of the element with the mouse, as a user would.
func (b *browser) click(ctx context.Context, selector string) {
	b.t.Helper()
	var at struct{ X, Y float64 }
	b.eval(ctx, `(() => { const e = document.querySelector(`+strconv.Quote(selector)+`); e.scrollIntoView({block: "center"});
		const r = e.getBoundingClientRect(); return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()`, &at)
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		b.call(ctx, "Input.dispatchMouseEvent", map[string]any{"type": typ, "x": at.X, "y": at.Y, "button": "left", "clickCount": 1})
	}
}

// TestScreenshot saves a picture of the page for the documentation, when
// asked to with -screenshot: the outage's story, where a sync job leaks its
// connections one by one while the API's traffic goes on.
func TestScreenshot(t *testing.T) {
	if *screenshot == "" {
		t.Skip("no -screenshot file given")
	}
	ctx := ctxTimeout(t, 2*time.Minute)
	pool := newPool(t, "", func(c *poolguard.Config) { c.SuspectAfter = 8 * time.Second })
	base := newHandler(t, pool, admin.Options{Title: "userapi", Token: token, Refresh: 250 * time.Millisecond})
	b := startBrowser(ctx, t)
	b.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false})
	b.call(ctx, "Page.navigate", map[string]any{"url": base + "/"})

	trafficCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; trafficCtx.Err() == nil; i++ {
			wg.Go(func() { getUser(trafficCtx, pool, float64(i%5)/25) })
			time.Sleep(60 * time.Millisecond)
		}
	})
	part := pool.Partition("sync")
	for range 3 {
		syncUserData(ctx, t, part)
		time.Sleep(6 * time.Second)
	}
	for range 4 { // sync callers now queue behind the leaked connections
		wg.Go(func() { part.With(trafficCtx, func(*poolguard.Conn) error { return nil }) })
	}
	time.Sleep(5 * time.Second)
	var res struct{ Data string }
	if err := json.Unmarshal(b.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}), &res); err != nil {
		t.Fatal(err)
	}
	stop()
	wg.Wait()
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(*screenshot, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// getUser is the API's request handler: it holds a connection for the
// time of one query.
func getUser(ctx context.Context, pool *poolguard.Pool, seconds float64) {
	pool.Partition("api").Exec(ctx, "SELECT pg_sleep($1)", seconds)
}
