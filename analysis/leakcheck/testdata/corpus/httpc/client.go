package httpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client calls a JSON API.
type Client struct {
	base string
	http *http.Client
}

// Status is the API's health document.
type Status struct {
	OK bool `json:"ok"`
}

// Health decodes the health document.
func (c *Client) Health(ctx context.Context) (Status, error) {
	var s Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/health", nil)
	if err != nil {
		return s, err
	}
	resp, err := c.http.Do(req) // OK
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("health: %s", resp.Status)
	}
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// HealthLate checks the status before deferring the close.
func (c *Client) HealthLate(ctx context.Context) (Status, error) {
	var s Status
	resp, err := c.http.Get(c.base + "/health") // LEAK
	if err != nil {
		return s, err
	}
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("health: %s", resp.Status)
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// Ping only looks at the status code.
func Ping(url string) (bool, error) {
	resp, err := http.Get(url) // LEAK
	if err != nil {
		return false, err
	}
	return resp.StatusCode == http.StatusOK, nil
}

// PingDrained drains and closes the body.
func PingDrained(url string) (bool, error) {
	resp, err := http.Head(url) // OK
	if err != nil {
		return false, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

// Post sends a form and reads the reply.
func Post(url string, body string) (string, error) {
	resp, err := http.Post(url, "text/plain", strings.NewReader(body)) // OK
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// PostForm reads the reply but returns early on a bad status.
func PostForm(c *http.Client, url string) ([]byte, error) {
	resp, err := c.PostForm(url, nil) // LEAK
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		return nil, errors.New(resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return b, err
}

// Retry retries on 5xx and closes each failed response.
func (c *Client) Retry(ctx context.Context, url string) (*http.Response, error) {
	var lastErr error
	for i := 0; i < 3; i++ {
		resp, err := c.http.Get(url) // OK
		if err != nil {
			lastErr = err
			time.Sleep(time.Second)
			continue
		}
		if resp.StatusCode >= 500 {
			resp.Body.Close()
			lastErr = errors.New(resp.Status)
			continue
		}
		return resp, nil
	}
	return nil, lastErr
}

// RetryLeaky retries on 5xx without closing the failed response.
func (c *Client) RetryLeaky(ctx context.Context, url string) (*http.Response, error) {
	var lastErr error
	for i := 0; i < 3; i++ {
		resp, err := c.http.Get(url) // LEAK
		if err != nil {
			lastErr = err
			continue
		}
		if resp.StatusCode >= 500 {
			lastErr = errors.New(resp.Status)
			continue
		}
		return resp, nil
	}
	return nil, lastErr
}

// Body returns the body for the caller to close.
func (c *Client) Body(url string) (io.ReadCloser, error) {
	resp, err := c.http.Get(url) // OK
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, errors.New(resp.Status)
	}
	return resp.Body, nil
}

// BodyLeaky returns the body but drops it on a bad status.
func (c *Client) BodyLeaky(url string) (io.ReadCloser, error) {
	resp, err := c.http.Get(url) // LEAK
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	return resp.Body, nil
}

func closeBody(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// Helper closes through a helper.
func (c *Client) Helper(url string) (int, error) {
	resp, err := c.http.Get(url) // OK
	if err != nil {
		return 0, err
	}
	defer closeBody(resp)
	return resp.StatusCode, nil
}

// Async reads the body in a goroutine that closes it.
func (c *Client) Async(url string, done chan<- []byte) error {
	resp, err := c.http.Get(url) // OK
	if err != nil {
		return err
	}
	go func() {
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- b
	}()
	return nil
}

// Stream copies the body to w.
func (c *Client) Stream(url string, w io.Writer) error {
	resp, err := c.http.Get(url) // LEAK
	if err != nil {
		return err
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// Select waits for the response or a timeout.
func (c *Client) Select(ctx context.Context, url string) error {
	type result struct {
		resp *http.Response
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		resp, err := c.http.Get(url) // OK
		ch <- result{resp, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return r.err
		}
		return r.resp.Body.Close()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NilCheck closes only when there is a response.
func (c *Client) NilCheck(req *http.Request) error {
	resp, err := c.http.Do(req) // OK
	if resp != nil {
		defer resp.Body.Close()
	}
	return err
}
