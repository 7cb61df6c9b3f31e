package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestUICommand(t *testing.T) {
	dir := t.TempDir()
	// Beyond loopback only with a token (or client certificates).
	_, err := runCLI(t, "ui", "--dir", dir, "--addr", "0.0.0.0:8080")
	if err == nil || !strings.Contains(err.Error(), "reachable from other machines: give --token (or XDPSENSOR_UI_TOKEN)") {
		t.Errorf("0.0.0.0 without a token: %v", err)
	}
	// The environment's token counts: the check passes, and listening on
	// an address this machine does not have fails.
	t.Setenv("XDPSENSOR_UI_TOKEN", "s3cret")
	_, err = runCLI(t, "ui", "--dir", dir, "--addr", "198.51.100.1:0")
	if err == nil || !strings.Contains(err.Error(), "serving console: listen tcp 198.51.100.1:0") {
		t.Errorf("with the environment's token: %v", err)
	}
	if _, err := runCLI(t, "ui", "--dir", dir+"/none"); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("missing dir: %v", err)
	}

	// On loopback it serves until the context ends (SIGINT/SIGTERM).
	t.Setenv("XDPSENSOR_UI_TOKEN", "")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		var out, errOut bytes.Buffer
		done <- run(ctx, []string{"ui", "--dir", dir, "--addr", addr, "--log-level", "error"}, &out, &errOut)
	}()
	var resp *http.Response
	for range 100 {
		if resp, err = http.Get("http://" + addr + "/"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("GET /: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ui after the context ended: %v", err)
	}
}
