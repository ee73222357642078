package httpc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
)

// Webhook delivers events to subscribers.
type Webhook struct {
	client *http.Client
	urls   []string
}

// Deliver posts to every subscriber and stops at the first failure.
func (w *Webhook) Deliver(ctx context.Context, body []byte) error {
	for _, u := range w.urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp, err := w.client.Do(req) // LEAK
		if err != nil {
			return err
		}
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s: %s", u, resp.Status)
		}
		resp.Body.Close()
	}
	return nil
}

// DeliverAll posts to every subscriber, closing each body.
func (w *Webhook) DeliverAll(ctx context.Context, body []byte) []error {
	var errs []error
	for _, u := range w.urls {
		resp, err := w.client.Post(u, "application/json", bytes.NewReader(body)) // OK
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			errs = append(errs, fmt.Errorf("%s: %s", u, resp.Status))
		}
	}
	return errs
}

// Probe checks reachability of the first subscriber.
func (w *Webhook) Probe() error {
	resp, err := w.client.Head(w.urls[0]) // OK
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Fetch downloads a payload with a size limit.
func (w *Webhook) Fetch(url string, limit int64) ([]byte, error) {
	resp, err := w.client.Get(url) // LEAK
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("payload too large: %d", resp.ContentLength)
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, limit))
}

// Mirror copies a response to another writer through a helper.
func (w *Webhook) Mirror(url string, dst io.Writer) error {
	resp, err := w.client.Get(url) // OK
	if err != nil {
		return err
	}
	return copyAndClose(dst, resp.Body)
}

func copyAndClose(dst io.Writer, body io.ReadCloser) error {
	defer body.Close()
	_, err := io.Copy(dst, body)
	return err
}
