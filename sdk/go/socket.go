package outrigger

import (
	"fmt"
	"os"
	"path/filepath"
)

// SocketEnv is the environment variable consulted when no socket path is given explicitly.
const SocketEnv = "OUTRIGGER_SOCKET"

const socketName = "outrigger.sock"

// DefaultSocketCandidates returns the default socket paths, most preferred first:
// $XDG_RUNTIME_DIR/outrigger/outrigger.sock (only when XDG_RUNTIME_DIR is an absolute path),
// /run/outrigger/outrigger.sock, then /tmp/outrigger-<euid>/outrigger.sock. None of them is
// in a directory that other users can write to directly, unlike /tmp itself.
func DefaultSocketCandidates() []string {
	var out []string
	if dir := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(dir) {
		out = append(out, filepath.Join(dir, "outrigger", socketName))
	}
	return append(out,
		filepath.Join("/run/outrigger", socketName),
		filepath.Join(fmt.Sprintf("/tmp/outrigger-%d", os.Geteuid()), socketName))
}

// ResolveSocketPath returns the socket a client uses: explicit when not empty, else
// $OUTRIGGER_SOCKET when not empty, else the first of DefaultSocketCandidates that exists and
// is a socket, else the first candidate (so that a connection error names it).
func ResolveSocketPath(explicit string) string {
	path, _ := chooseSocket(explicit)
	return path
}

// chooseSocket is ResolveSocketPath, also telling whether the path came from the defaults.
func chooseSocket(explicit string) (path string, fromDefaults bool) {
	if explicit != "" {
		return explicit, false
	}
	if env := os.Getenv(SocketEnv); env != "" {
		return env, false
	}
	return firstSocket(DefaultSocketCandidates()), true
}

// firstSocket returns the first candidate that is a socket (not following symlinks), or the
// first candidate when none is.
func firstSocket(candidates []string) string {
	for _, c := range candidates {
		if fi, err := os.Lstat(c); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return c
		}
	}
	return candidates[0]
}
