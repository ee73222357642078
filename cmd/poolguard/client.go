package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/poolguard/poolguard/admin"
)

// envToken names the environment variable holding the admin token. A
// token is never taken from a flag's value, which ps shows to every user
// of the machine.
const envToken = "POOLGUARD_ADMIN_TOKEN"

// exampleURL is shown wherever a URL is wanted.
const exampleURL = "http://127.0.0.1:8080/debug/pool/"

// maxBody bounds what is read of an answer: a snapshot of thousands of
// leases is a few megabytes.
const maxBody = 64 << 20

// clientFlags are the flags of every command that talks to the admin
// handler.
type clientFlags struct {
	tokenFile string
	timeout   time.Duration
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.tokenFile, "token-file", "", "")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "")
}

const clientUsage = `  --token-file FILE  read the admin token from FILE rather than from the
                     environment variable POOLGUARD_ADMIN_TOKEN
  --timeout D        give up on the admin endpoint after D (default 10s)
`

// client talks to a service's admin handler.
type client struct {
	base    *url.URL // where the handler is mounted, without a trailing slash
	token   string   // sent as a bearer token; empty: none
	source  string   // where the token came from, for error messages
	timeout time.Duration
	http    *http.Client
	warn    string    // said to stderr before the first request, if set
	stderr  io.Writer // where warn goes
}

// newClient validates the URL argument and the flags, and reads the token.
func newClient(raw string, f clientFlags, e *env) (*client, error) {
	u, err := parseAdminURL(raw)
	if err != nil {
		return nil, err
	}
	if err := positive("timeout", f.timeout); err != nil {
		return nil, err
	}
	c := &client{base: u, timeout: f.timeout, http: &http.Client{}}
	switch {
	case f.tokenFile != "":
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		c.token, c.source = strings.TrimSpace(string(b)), "--token-file "+f.tokenFile
		if c.token == "" {
			return nil, fmt.Errorf("--token-file %s is empty", f.tokenFile)
		}
	default:
		c.token, c.source = strings.TrimSpace(e.getenv(envToken)), envToken
	}
	if c.token != "" && u.Scheme == "http" && !loopback(u.Hostname()) {
		// Said when the token is first sent, not now: a usage error
		// stays one line.
		c.warn = fmt.Sprintf("poolguard: warning: the admin token goes to %s unencrypted; prefer a port-forward to 127.0.0.1, or https", u.Host)
		c.stderr = e.stderr
	}
	return c, nil
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseAdminURL accepts the URL the admin handler is mounted at, with or
// without a scheme, a trailing slash or "/snapshot".
func parseAdminURL(raw string) (*url.URL, error) {
	bad := func(why string) error {
		return fmt.Errorf("bad admin URL %q: %s; give the URL the service mounts its admin handler at, such as %s", redactURL(raw), why, exampleURL)
	}
	if raw == "" {
		return nil, bad("it is empty")
	}
	s := raw
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, bad("it does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, bad("the scheme must be http or https")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, bad("it names no host")
	}
	if u.User != nil {
		return nil, bad("it carries credentials; the token goes in " + envToken + " or --token-file")
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/snapshot")
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath, u.RawQuery, u.Fragment = "", "", ""
	return u, nil
}

// redactURL returns raw with any password replaced, for messages.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

func (c *client) endpoint(path string, q url.Values) string {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	return u.String()
}

// adminError is an answer of the admin handler other than 200.
type adminError struct {
	status int
	msg    string // the handler's own explanation
}

func (e *adminError) Error() string { return e.msg }

// do sends a request to the handler and decodes a 200 answer into out.
func (c *client) do(ctx context.Context, method, path string, q url.Values, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	target := c.endpoint(path, q)
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.warn != "" {
		fmt.Fprintln(c.stderr, c.warn)
		c.warn = ""
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("the admin endpoint %s did not answer within %s: is the service overloaded? (raise --timeout)", c.base, c.timeout)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("cannot reach the admin endpoint %s: %w; is the service running, and does it serve its admin handler at that address?", c.base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", c.base, err)
	}
	var answer struct {
		Error string `json:"error"`
	}
	isJSON := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")
	if isJSON {
		_ = json.Unmarshal(body, &answer) // a snapshot has no error field
	}
	if resp.StatusCode != http.StatusOK {
		msg := answer.Error
		if msg == "" {
			msg = firstLine(string(body))
		}
		return &adminError{resp.StatusCode, msg}
	}
	if !isJSON {
		return fmt.Errorf("%s did not answer with JSON (Content-Type %q): is it the URL of a poolguard admin handler, such as %s?", target, resp.Header.Get("Content-Type"), exampleURL)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s answered JSON that is not a poolguard admin answer: %w", target, err)
	}
	return nil
}

// unwrapURLError drops url.Error's method and URL, which the message
// around it already names.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// explain turns an admin handler's refusal into a message that says what
// to do. what is what was asked, such as "reading the snapshot", or empty.
func (c *client) explain(what string, err error) error {
	var ae *adminError
	if !errors.As(err, &ae) {
		return err
	}
	prefix := fmt.Sprintf("the admin endpoint %s answered %d", c.base, ae.status)
	if what != "" {
		prefix = what + ": " + prefix
	}
	switch ae.status {
	case http.StatusUnauthorized:
		return fmt.Errorf("%s (%s): set %s, or use --token-file", prefix, ae.msg, envToken)
	case http.StatusForbidden:
		if strings.Contains(ae.msg, "disabled") {
			return fmt.Errorf("%s (%s): the service runs without an admin token; restart it with one (for the example service, %s) to enable actions", prefix, ae.msg, envToken)
		}
		return fmt.Errorf("%s (%s): check the token in %s", prefix, ae.msg, c.source)
	case http.StatusNotFound:
		if ae.msg == "" || strings.HasPrefix(ae.msg, "404 page not found") {
			return fmt.Errorf("%s: no admin handler there; give the URL it is mounted at, such as %s", prefix, exampleURL)
		}
	case http.StatusMisdirectedRequest:
		return fmt.Errorf("%s (%s): reach the service through a loopback address (kubectl port-forward), or list the host in its admin.Options.Hosts", prefix, ae.msg)
	}
	if ae.msg == "" {
		return errors.New(prefix)
	}
	return fmt.Errorf("%s: %s", prefix, ae.msg)
}

// snapshot reads the pool's state.
func (c *client) snapshot(ctx context.Context) (*admin.Snapshot, error) {
	var s admin.Snapshot
	if err := c.do(ctx, http.MethodGet, "/snapshot", nil, &s); err != nil {
		return nil, c.explain("reading the snapshot", err)
	}
	if s.Time.IsZero() || s.Partitions == nil {
		return nil, fmt.Errorf("%s answered JSON that is not a poolguard snapshot: is it the URL of a poolguard admin handler, such as %s?", c.base, exampleURL)
	}
	return &s, nil
}

// act posts an action and returns the handler's message.
func (c *client) act(ctx context.Context, action string, q url.Values) (string, error) {
	var res struct {
		OK      bool   `json:"ok"`
		Message string `json:"message"`
	}
	if c.token == "" {
		// The handler would refuse it; say why before asking.
		return "", fmt.Errorf("%s needs the admin token: set %s, or use --token-file", action, envToken)
	}
	if err := c.do(ctx, http.MethodPost, "/"+action, q, &res); err != nil {
		return "", c.explain("", err) // the command's name says what was asked
	}
	if !res.OK {
		return "", fmt.Errorf("%s: %s answered without confirming the action", action, c.base)
	}
	return res.Message, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
