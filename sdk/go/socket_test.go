package outrigger

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Choosing the socket path: explicit, then $OUTRIGGER_SOCKET, then the default candidates.

func systemCandidates() []string {
	return []string{"/run/outrigger/outrigger.sock", fmt.Sprintf("/tmp/outrigger-%d/outrigger.sock", os.Geteuid())}
}

// bindSocket creates a listening socket at path, closed at the end of the test.
func bindSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
}

// runtimeDir points XDG_RUNTIME_DIR at a fresh directory holding an "outrigger" directory,
// unsets OUTRIGGER_SOCKET, and returns the first default candidate.
func runtimeDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "orxdg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Mkdir(filepath.Join(dir, "outrigger"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_RUNTIME_DIR", dir)
	t.Setenv(SocketEnv, "")
	return filepath.Join(dir, "outrigger", "outrigger.sock")
}

func TestDefaultSocketCandidatesInOrder(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/4242")
	want := append([]string{"/run/user/4242/outrigger/outrigger.sock"}, systemCandidates()...)
	if got := DefaultSocketCandidates(); !slices.Equal(got, want) {
		t.Errorf("absolute XDG_RUNTIME_DIR: got %q, want %q", got, want)
	}
	for _, xdg := range []string{"run/user/4242", ""} { // relative or empty: ignored
		t.Setenv("XDG_RUNTIME_DIR", xdg)
		if got := DefaultSocketCandidates(); !slices.Equal(got, systemCandidates()) {
			t.Errorf("XDG_RUNTIME_DIR=%q: got %q", xdg, got)
		}
	}
}

func TestSocketPathExplicitThenEnvironmentThenDefaults(t *testing.T) {
	first := runtimeDir(t)
	bindSocket(t, first)
	t.Setenv(SocketEnv, "/srv/env.sock")
	if got := ResolveSocketPath("/srv/explicit.sock"); got != "/srv/explicit.sock" {
		t.Errorf("explicit: got %q", got)
	}
	if got := ResolveSocketPath(""); got != "/srv/env.sock" {
		t.Errorf("environment: got %q", got)
	}
	if c, _ := New(); c.SocketPath() != "/srv/env.sock" {
		t.Errorf("client with environment: got %q", c.SocketPath())
	}
	t.Setenv(SocketEnv, "")
	if got := ResolveSocketPath(""); got != first {
		t.Errorf("default: got %q, want %q", got, first)
	}
	if c, _ := New(); c.SocketPath() != first {
		t.Errorf("client with defaults: got %q", c.SocketPath())
	}
}

func TestNoSocketExistsGivesTheFirstCandidate(t *testing.T) {
	for _, c := range systemCandidates() {
		if fi, err := os.Lstat(c); err == nil && fi.Mode()&fs.ModeSocket != 0 {
			t.Skipf("a sidecar serves %s on this machine", c)
		}
	}
	first := runtimeDir(t)
	if got := ResolveSocketPath(""); got != first {
		t.Errorf("with XDG_RUNTIME_DIR: got %q, want %q", got, first)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	if got := ResolveSocketPath(""); got != "/run/outrigger/outrigger.sock" {
		t.Errorf("without XDG_RUNTIME_DIR: got %q", got)
	}
}

func TestFirstSocketSkipsMissingPathsAndOtherFiles(t *testing.T) {
	dir := t.TempDir()
	missing, regular, sock := filepath.Join(dir, "missing"), filepath.Join(dir, "regular"), shortSocketPath(t)
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bindSocket(t, sock)
	if got := firstSocket([]string{missing, regular, sock}); got != sock {
		t.Errorf("got %q, want the socket %q", got, sock)
	}
	if got := firstSocket([]string{missing, regular}); got != missing {
		t.Errorf("got %q, want the first candidate %q", got, missing)
	}
}

// The /tmp/outrigger-<euid> fallback, on the real path: only when nothing else uses it.
func TestTmpFallbackIsUsedWhenItExists(t *testing.T) {
	run, tmp := systemCandidates()[0], systemCandidates()[1]
	if fi, err := os.Lstat(run); err == nil && fi.Mode()&fs.ModeSocket != 0 {
		t.Skipf("a sidecar serves %s on this machine", run)
	}
	if err := os.Mkdir(filepath.Dir(tmp), 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			t.Skipf("%s exists already (a sidecar, or another test run, uses it)", filepath.Dir(tmp))
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(tmp)) })
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv(SocketEnv, "")
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := ResolveSocketPath(""); got != run || c.SocketPath() != run {
		t.Fatalf("before the socket exists: got %q and %q, want %q", got, c.SocketPath(), run)
	}
	bindSocket(t, tmp)
	if got := ResolveSocketPath(""); got != tmp {
		t.Errorf("got %q, want %q", got, tmp)
	}
	// The client looks at the candidates again for each connection attempt.
	if got := c.SocketPath(); got != tmp {
		t.Errorf("client: got %q, want %q", got, tmp)
	}
}
