package outrigger

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Checking who serves the socket. Whoever binds the socket path receives every prompt sent to
// it, so before Hello the client can compare the server's uid with the uids it trusts.

// shouldVerify: on for a default socket path unless turned off, off for an explicit or
// $OUTRIGGER_SOCKET path unless turned on, and always on when an expected uid is given.
func shouldVerify(fromDefaults bool, verify *bool, expectedUID *int) bool {
	switch {
	case expectedUID != nil:
		return true
	case verify != nil:
		return *verify
	}
	return fromDefaults
}

// trustedServerUIDs returns exactly the expected uid when one is given. Otherwise: this
// process's euid, root, and the owner of the socket's directory when that directory sits in
// one that others cannot write to (only then could its owner alone have created it).
func trustedServerUIDs(path string, expectedUID *int) []int {
	if expectedUID != nil {
		return []int{*expectedUID}
	}
	trusted := []int{os.Geteuid(), 0}
	if abs, err := filepath.Abs(path); err == nil {
		dir := filepath.Dir(abs)
		parent, err := os.Stat(filepath.Dir(dir))
		if owner, ok := fileOwner(dir); ok && err == nil && parent.Mode().Perm()&0o002 == 0 {
			trusted = append(trusted, owner)
		}
	}
	slices.Sort(trusted)
	return slices.Compact(trusted)
}

// verifyServer fails with PERMISSION_DENIED unless the process serving nc runs as a trusted uid.
func verifyServer(nc net.Conn, path string, expectedUID *int) *Error {
	trusted := trustedServerUIDs(path, expectedUID)
	uid, err := peerUID(nc)
	if err != nil {
		return clientError(StatusPermissionDenied, false, err, "cannot verify the server of %s: %v", path, err)
	}
	if slices.Contains(trusted, uid) {
		return nil
	}
	names := make([]string, len(trusted))
	for i, u := range trusted {
		names[i] = strconv.Itoa(u)
	}
	return clientError(StatusPermissionDenied, false, nil,
		"the server of %s runs as uid %d, not one of the trusted uids %s", path, uid, strings.Join(names, ", "))
}
