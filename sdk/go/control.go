package outrigger

// controlQueue holds the connection-level frames waiting for the writer. It stays small while
// the writer is blocked on a stalled socket: only the newest Pong is worth sending (the sidecar
// learns the connection is alive from any of them), a keepalive Ping is not queued while one
// still waits, and a Cancel is queued at most once per stream (a call ends once, and only a
// call still registered on the connection sends one), so Cancels never outnumber the streams
// the connection has opened. A Cancel for a stream still open is never dropped. Guarded by
// conn.mu.
type controlQueue struct {
	cancels [][]byte
	ping    []byte
	pong    []byte
}

// take returns the queued frames, Cancels first, and empties the queue.
func (q *controlQueue) take() [][]byte {
	frames := q.cancels
	for _, f := range [][]byte{q.ping, q.pong} {
		if f != nil {
			frames = append(frames, f)
		}
	}
	*q = controlQueue{}
	return frames
}
