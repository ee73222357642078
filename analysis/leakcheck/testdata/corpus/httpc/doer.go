package httpc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Doer is satisfied by *http.Client and by retrying clients.
type Doer interface {
	Do(req *http.Request) (*http.Response, error)
}

// StatusOf returns the status of a GET.
func StatusOf(ctx context.Context, d Doer, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := d.Do(req) // OK
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}

// DecodeFrom decodes the body of a GET, and returns on an unexpected
// status before it closes the body.
func DecodeFrom(ctx context.Context, d Doer, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := d.Do(req) // LEAK
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// DecodeChecked binds the body's Close to a variable and defers it.
func DecodeChecked(ctx context.Context, d Doer, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := d.Do(req) // OK
	if err != nil {
		return err
	}
	closeBody := resp.Body.Close
	defer closeBody()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// DecodeLate binds the body's Close to a variable but defers it only
// after the status check.
func DecodeLate(ctx context.Context, d Doer, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := d.Do(req) // LEAK
	if err != nil {
		return err
	}
	closeBody := resp.Body.Close
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	defer closeBody()
	return json.NewDecoder(resp.Body).Decode(v)
}
