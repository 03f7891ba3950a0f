package outrigger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Checking who serves the socket before anything is sent.

func TestVerificationDefaults(t *testing.T) {
	first := runtimeDir(t)
	cases := []struct {
		name string
		env  string
		opts []Option
		want bool
	}{
		{"default candidate", "", nil, true},
		{"default candidate, turned off", "", []Option{WithVerifyServer(false)}, false},
		{"explicit path", "", []Option{WithSocketPath("/srv/o.sock")}, false},
		{"explicit path, turned on", "", []Option{WithSocketPath("/srv/o.sock"), WithVerifyServer(true)}, true},
		{"environment", "/srv/env.sock", nil, false},
		{"expected uid", "/srv/env.sock", []Option{WithExpectedServerUID(7)}, true},
		{"expected uid wins over off", "", []Option{WithVerifyServer(false), WithExpectedServerUID(7)}, true},
	}
	for _, tc := range cases {
		t.Setenv(SocketEnv, tc.env)
		c, err := New(tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if c.VerifiesServer() != tc.want {
			t.Errorf("%s: VerifiesServer() = %v, want %v (socket %s)", tc.name, c.VerifiesServer(), tc.want, first)
		}
	}
}

func TestTrustedServerUIDs(t *testing.T) {
	uid := 4242
	if got := trustedServerUIDs("/any/o.sock", &uid); !slices.Equal(got, []int{4242}) {
		t.Errorf("expected uid: got %v, want exactly [4242]", got)
	}
	got := trustedServerUIDs(shortSocketPath(t), nil)
	if !slices.Contains(got, 0) || !slices.Contains(got, os.Geteuid()) {
		t.Errorf("got %v, want root and this process's euid among them", got)
	}
}

func TestDirectoryOwnerIsTrustedOnlyBelowAClosedParent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a directory to another uid needs root")
	}
	parent := t.TempDir()
	dir := filepath.Join(parent, "outrigger")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 4242, -1); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "o.sock")
	os.Chmod(parent, 0o755)
	if got := trustedServerUIDs(path, nil); !slices.Equal(got, []int{0, 4242}) {
		t.Errorf("closed parent: got %v, want [0 4242]", got)
	}
	os.Chmod(parent, 0o1777) // like /tmp: anyone could have made the directory
	if got := trustedServerUIDs(path, nil); !slices.Equal(got, []int{0}) {
		t.Errorf("world-writable parent: got %v, want [0]", got)
	}
}

func TestVerifiedServerOfTheSameUserIsAccepted(t *testing.T) {
	for _, opt := range []Option{WithVerifyServer(true), WithExpectedServerUID(os.Geteuid())} {
		srv := newFakeServer(t, ackSpec{})
		c := dialFake(t, srv, opt)
		srv.next(t).serveEcho()
		if resp, err := c.Chat(context.Background(), user("verified")); err != nil || resp.Content != "verified" {
			t.Fatalf("%v %v", resp, err)
		}
	}
}

// silentServer accepts one connection and reports how many bytes the client sent on it
// before closing it.
func silentServer(t *testing.T) (path string, received <-chan int64) {
	t.Helper()
	path = shortSocketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan int64, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		n, _ := io.Copy(io.Discard, nc)
		out <- n
	}()
	return path, out
}

func TestUnexpectedServerUIDFailsBeforeAnythingIsSent(t *testing.T) {
	path, received := silentServer(t)
	stranger := os.Geteuid() + 12345
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	start := time.Now()
	_, err := Dial(ctx, WithSocketPath(path), WithExpectedServerUID(stranger))
	if !errors.Is(err, ErrPermissionDenied) || IsRetryable(err) {
		t.Fatalf("got %v, want a PERMISSION_DENIED that is not retryable", err)
	}
	msg := asError(t, err).Message
	for _, want := range []string{path, fmt.Sprintf("uid %d", os.Geteuid()), fmt.Sprint(stranger)} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not name %q", msg, want)
		}
	}
	select {
	case n := <-received:
		if n != 0 {
			t.Errorf("the client sent %d bytes to an untrusted server", n)
		}
	case <-time.After(testWait):
		t.Fatal("the client kept the connection to an untrusted server open")
	}
	if time.Since(start) > time.Second {
		t.Error("a refused server was retried instead of failing at once")
	}
}

// Calls queued on a lazily connecting client fail at once too, rather than after the
// connect wait.
func TestUnexpectedServerUIDFailsQueuedCalls(t *testing.T) {
	path, received := silentServer(t)
	c, err := New(WithSocketPath(path), WithExpectedServerUID(os.Geteuid()+12345))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Chat(context.Background(), user("secret"))
	if !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("got %v, want PERMISSION_DENIED", err)
	}
	select {
	case n := <-received:
		if n != 0 {
			t.Errorf("the client sent %d bytes to an untrusted server", n)
		}
	case <-time.After(testWait):
		t.Fatal("the client kept the connection to an untrusted server open")
	}
}
