package outrigger

import (
	"fmt"
	"time"
)

// Version is this SDK's version, announced to the sidecar in Hello.
const Version = "0.1.0"

const (
	protoMajor = 1
	protoMinor = 0
)

// Option configures a Client.
type Option func(*settings)

type settings struct {
	socketPath      string // explicit or from $OUTRIGGER_SOCKET; empty: the default candidates
	verifyServer    *bool
	expectedUID     *int
	verify          bool // resolved: check the server's uid before Hello
	clientName      string
	clientVersion   string
	maxFrameSize    uint32
	queueSize       int
	maxStreamBuffer int // bytes of chunks one stream may hold for Recv
	dialTimeout     time.Duration
	connectWait     time.Duration
	defaultTimeout  time.Duration
	deadlineGrace   time.Duration
	defaultMetadata Metadata
}

func defaultSettings() settings {
	return settings{
		clientName:      "outrigger-go",
		clientVersion:   Version,
		maxFrameSize:    4 << 20,
		queueSize:       4096,
		maxStreamBuffer: defaultMaxStreamBuffer,
		dialTimeout:     5 * time.Second,
		connectWait:     10 * time.Second,
		deadlineGrace:   200 * time.Millisecond,
	}
}

// WithSocketPath sets the sidecar's Unix socket. Without it the client uses $OUTRIGGER_SOCKET,
// then the first of DefaultSocketCandidates that exists (see ResolveSocketPath).
func WithSocketPath(path string) Option { return func(s *settings) { s.socketPath = path } }

// WithVerifyServer turns the check of the server's uid on or off. The check runs after
// connecting and before anything is sent; a server whose uid is not trusted fails the
// connection with PERMISSION_DENIED. Trusted are this process's effective uid, root, and the
// owner of the socket's directory when that directory's parent is not writable by others.
// Default: on when the socket path came from the default candidates, off for WithSocketPath
// and $OUTRIGGER_SOCKET.
func WithVerifyServer(on bool) Option { return func(s *settings) { s.verifyServer = &on } }

// WithExpectedServerUID makes uid the only uid the server may run as, and turns the check of
// WithVerifyServer on.
func WithExpectedServerUID(uid int) Option { return func(s *settings) { s.expectedUID = &uid } }

// WithClientName sets the client name and version announced in Hello (shown in the sidecar's
// logs and traces). The defaults name this SDK.
func WithClientName(name, version string) Option {
	return func(s *settings) { s.clientName, s.clientVersion = name, version }
}

// WithMaxFrameSize sets the largest frame this client accepts (default 4 MiB, at most 64 MiB).
// The sidecar answers with the smaller of its own limit and this one; frames over the
// negotiated size are rejected in both directions.
func WithMaxFrameSize(n uint32) Option { return func(s *settings) { s.maxFrameSize = n } }

// WithQueueSize bounds the calls waiting to be written to the socket (default 4096). A call
// that finds the queue full fails at once with a retryable RESOURCE_EXHAUSTED error.
func WithQueueSize(n int) Option { return func(s *settings) { s.queueSize = n } }

// defaultMaxStreamBuffer is the stream buffer of WithMaxStreamBuffer(0).
const defaultMaxStreamBuffer = 64 << 20

// WithMaxStreamBuffer bounds the bytes of chunks a stream holds while its caller has not read
// them with Recv (default 64 MiB; 0 keeps the default). A stream that goes past it is cancelled
// on the sidecar and fails with a non-retryable RESOURCE_EXHAUSTED error saying the caller did
// not read it fast enough; the connection and other calls are not affected.
func WithMaxStreamBuffer(bytes int) Option {
	return func(s *settings) {
		if bytes == 0 {
			bytes = defaultMaxStreamBuffer
		}
		s.maxStreamBuffer = bytes
	}
}

// WithDialTimeout bounds one connection attempt, handshake included (default 5 s).
func WithDialTimeout(d time.Duration) Option { return func(s *settings) { s.dialTimeout = d } }

// WithConnectWait sets how long a queued call waits for a connection while the sidecar cannot
// be reached (default 10 s). Past it the call fails with a retryable UNAVAILABLE error. The
// call's context may end the wait sooner.
func WithConnectWait(d time.Duration) Option { return func(s *settings) { s.connectWait = d } }

// WithDefaultTimeout sets the timeout of calls whose Request.Timeout is zero (default none: the
// sidecar's configured default applies). The context's deadline, when earlier, still wins.
func WithDefaultTimeout(d time.Duration) Option { return func(s *settings) { s.defaultTimeout = d } }

// WithDeadlineGrace sets how long after a Request.Timeout the client gives up by itself when
// the sidecar has not answered (default 200 ms). Context deadlines are enforced exactly.
func WithDeadlineGrace(d time.Duration) Option { return func(s *settings) { s.deadlineGrace = d } }

// WithMetadata sets default metadata sent with every request and feedback. Per-call metadata
// is merged over it.
func WithMetadata(md Metadata) Option { return func(s *settings) { s.defaultMetadata = md } }

func (s *settings) resolve() error {
	path, fromDefaults := chooseSocket(s.socketPath)
	if !fromDefaults {
		s.socketPath = path
	}
	s.verify = shouldVerify(fromDefaults, s.verifyServer, s.expectedUID)
	if s.maxFrameSize < 1024 || s.maxFrameSize > hardMaxFrame {
		return fmt.Errorf("outrigger: max frame size %d outside [1024, %d]", s.maxFrameSize, hardMaxFrame)
	}
	if s.queueSize < 1 {
		return fmt.Errorf("outrigger: queue size %d must be at least 1", s.queueSize)
	}
	if s.maxStreamBuffer < 0 {
		return fmt.Errorf("outrigger: stream buffer %d must not be negative", s.maxStreamBuffer)
	}
	if s.dialTimeout <= 0 || s.connectWait < 0 || s.defaultTimeout < 0 || s.deadlineGrace < 0 {
		return fmt.Errorf("outrigger: timeouts must not be negative")
	}
	return nil
}
