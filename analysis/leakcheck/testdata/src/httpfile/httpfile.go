// Cases for net/http responses and os files.
package httpfile

import (
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"os"
	"runtime/pprof"
)

var errStatus = errors.New("status")

func get(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return nil
}

func statusLeak(url string) error {
	resp, err := http.Get(url) // want `response body acquired here is not released on the return at httpfile.go:\d+`
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return errStatus
	}
	defer resp.Body.Close()
	return nil
}

func decode(c *http.Client, req *http.Request, v any) error {
	resp, err := c.Do(req) // want `response body acquired here is not released on the return`
	if err != nil {
		return err
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func returnsBody(c *http.Client, url string) (io.ReadCloser, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func returnsResponse(url string) (*http.Response, error) {
	resp, err := http.Head(url)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func viaDrain(url string) error {
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

func closeBody(b io.Closer) { b.Close() }

func viaBodyHelper(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer closeBody(resp.Body)
	return nil
}

func bodyIgnored(url string) int {
	resp, _ := http.Get(url) // want `response body acquired here is not released on the return at httpfile.go:88`
	return resp.StatusCode
}

func open(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func openLeak(name string) ([]byte, error) {
	f, err := os.Open(name) // want `file acquired here is not released on the return`
	if err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

func create(name string, data []byte) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func createLeak(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0o600) // want `file acquired here is not released on the return at httpfile.go:\d+`
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Close()
}

func returnsFile(name string) (*os.File, error) {
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func asCloser(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	var c io.Closer = f
	return c.Close()
}

func wrappedLeak(name string) (io.Reader, error) {
	f, err := os.Open(name) // want `file acquired here is not released on the return`
	if err != nil {
		return nil, err
	}
	return io.LimitReader(f, 10), nil
}

func profile(name string) func() {
	f, err := os.Create(name)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return func() {}
	}
	return pprof.StopCPUProfile
}

func logTo(name string) error {
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	log.SetOutput(f)
	return nil
}
