package outrigger

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unsafe"

	"github.com/outrigger-dev/outrigger/sdk/go/wire"
)

// Structural check of incoming frames. The FlatBuffers runtime for Go has no verifier, and the
// generated accessors trust every offset and length in the buffer: a vector whose length reads
// 0xFFFFFFFF makes the decoder allocate room for four billion elements, and running out of
// memory kills the process (recover cannot catch it). checkFrame walks every table, string and
// vector the client reads and rejects the frame when one of them reaches past its end, so the
// decoder only ever sees lengths and offsets that fit in the bytes it was given.
//
// Fitting is not enough: many offsets may point to the same table, so a vector of 500k offsets
// to one tool call with a 2 MiB arguments string fits in 4 MiB yet decodes to a terabyte of
// copies. The walk follows shared offsets as often as the decoder does and counts what the
// decoder will allocate; past decodeBudget the frame is rejected.

type fieldKind uint8

const (
	scalarField      fieldKind = iota // an inline value of size bytes
	stringField                       // offset to a length-prefixed byte string
	tableField                        // offset to a table
	tableVectorField                  // offset to a vector of offsets to tables
	unionField                        // offset to a table whose type is the previous field
)

type fieldShape struct {
	name string
	kind fieldKind
	size uint64      // inline bytes: the scalar's size, 4 for every offset
	of   *tableShape // the referenced table type
}

// tableShape lists a table's fields in schema order: field i lives at vtable slot 4+2i (a
// union takes two slots, its type then its value, so it is listed as two fields).
type tableShape struct {
	name   string
	fields []fieldShape
	// goSize is the size of the Go value the decoder makes for each element of a vector of
	// this table, before its strings.
	goSize uint64
}

func scalarNamed(name string, size uint64) fieldShape {
	return fieldShape{name, scalarField, size, nil}
}
func stringNamed(name string) fieldShape { return fieldShape{name, stringField, 4, nil} }
func tableNamed(name string, of *tableShape) fieldShape {
	return fieldShape{name, tableField, 4, of}
}
func tablesNamed(name string, of *tableShape) fieldShape {
	return fieldShape{name, tableVectorField, 4, of}
}

// The shapes of the tables the client decodes, as in schemas/outrigger.fbs.
var (
	toolCallShape = &tableShape{"ToolCall", []fieldShape{
		stringNamed("id"), stringNamed("type"), stringNamed("name"), stringNamed("arguments")},
		uint64(unsafe.Sizeof(ToolCall{}))}
	toolCallDeltaShape = &tableShape{"ToolCallDelta", []fieldShape{
		scalarNamed("index", 4), stringNamed("id"), stringNamed("type"), stringNamed("name"), stringNamed("arguments")},
		uint64(unsafe.Sizeof(ToolCallDelta{}))}
	usageShape = &tableShape{"Usage", []fieldShape{
		scalarNamed("prompt_tokens", 4), scalarNamed("completion_tokens", 4), scalarNamed("cached_tokens", 4),
		scalarNamed("reasoning_tokens", 4), scalarNamed("cache_write_tokens", 4)}, 0}
	verdictShape = &tableShape{"GuardrailVerdict", []fieldShape{
		stringNamed("guardrail"), scalarNamed("verdict", 1), stringNamed("reason")},
		uint64(unsafe.Sizeof(GuardrailVerdict{}))}

	bodyShapes = map[wire.Body]*tableShape{
		wire.BodyHelloAck: {"HelloAck", []fieldShape{
			scalarNamed("proto_major", 2), scalarNamed("proto_minor", 2), stringNamed("server_version"),
			scalarNamed("max_frame_size", 4), scalarNamed("max_concurrent_streams", 4),
			scalarNamed("features", 8), scalarNamed("heartbeat_ms", 4)}, 0},
		wire.BodyError: {"Error", []fieldShape{
			scalarNamed("status", 4), stringNamed("message"), scalarNamed("supported_major_min", 2),
			scalarNamed("supported_major_max", 2)}, 0},
		wire.BodyPing: {"Ping", []fieldShape{scalarNamed("opaque", 8)}, 0},
		wire.BodyGoAway: {"GoAway", []fieldShape{
			scalarNamed("last_stream_id", 8), stringNamed("reason"), scalarNamed("drain_ms", 4)}, 0},
		wire.BodyResponseStart: {"ResponseStart", []fieldShape{
			stringNamed("model"), stringNamed("provider"), scalarNamed("cache_hit", 1), stringNamed("trace_id"),
			stringNamed("system_fingerprint"), stringNamed("service_tier")}, 0},
		wire.BodyResponseChunk: {"ResponseChunk", []fieldShape{
			scalarNamed("seq", 4), stringNamed("delta"), tablesNamed("tool_calls", toolCallDeltaShape),
			scalarNamed("refusal", 1)}, 0},
		wire.BodyResponseEnd: {"ResponseEnd", []fieldShape{
			scalarNamed("status", 4), scalarNamed("retryable", 1), scalarNamed("retry_after_ms", 4),
			stringNamed("origin"), stringNamed("message"), stringNamed("content"), stringNamed("finish_reason"),
			tablesNamed("tool_calls", toolCallShape), tableNamed("usage", usageShape),
			scalarNamed("cost_usd", 8), scalarNamed("cache_hit", 1), stringNamed("trace_id"),
			tablesNamed("verdicts", verdictShape), stringNamed("model"), scalarNamed("reached_provider", 1),
			scalarNamed("refusal", 1), stringNamed("system_fingerprint"), stringNamed("service_tier")}, 0},
	}

	// Bodies missing from bodyShapes (Hello, Request, Pong, ...) are never read by the client,
	// so they are not checked.
	frameShape = &tableShape{"Frame", []fieldShape{
		scalarNamed("stream_id", 8), scalarNamed("body_type", 1), {"body", unionField, 4, nil}}, 0}
)

// malformedError names the field whose length or offset does not fit in the frame, as a path
// from the body table ("ResponseEnd.tool_calls[0].name"), or from the root ("Frame.body") when
// the body itself cannot be found.
type malformedError struct {
	path   []string // outermost first
	rooted bool     // the path starts at the body table: enclosing fields add nothing
	msg    string
}

func (e *malformedError) Error() string {
	var sb strings.Builder
	sb.WriteString("malformed frame: ")
	for i, p := range e.path {
		if i > 0 && !strings.HasPrefix(p, "[") {
			sb.WriteByte('.')
		}
		sb.WriteString(p)
	}
	sb.WriteString(": ")
	sb.WriteString(e.msg)
	return sb.String()
}

// within prefixes err's path with the field it was found under.
func within(err error, name string) error {
	if m, ok := err.(*malformedError); ok && !m.rooted {
		m.path = append([]string{name}, m.path...)
	}
	return err
}

// frameChecker reads words of buf at 64-bit positions, so no sum of offsets can wrap around.
// decoded counts the bytes the decoder will allocate for what has been walked so far.
type frameChecker struct {
	buf             []byte
	decoded, budget uint64
}

// decodeBudget is what a frame of n bytes may decode to. A frame written normally decodes to
// about its own size: each string is copied once, and a vector element's Go value is about as
// big as the offset, table and strings that write it. The slack covers small frames.
func decodeBudget(n int) uint64 { return 4*uint64(n) + 64<<10 }

// charge adds n decoded bytes and fails once the frame decodes to more than its budget.
func (c *frameChecker) charge(n uint64) error {
	c.decoded += n
	if c.decoded > c.budget {
		return c.fail("the %d-byte frame decodes to more than %d bytes (offsets shared many times)",
			len(c.buf), c.budget)
	}
	return nil
}

// fits reports whether n bytes at pos lie inside the frame.
func (c *frameChecker) fits(pos, n uint64) bool {
	return pos <= uint64(len(c.buf)) && n <= uint64(len(c.buf))-pos
}

func (c *frameChecker) u8(pos uint64) uint64  { return uint64(c.buf[pos]) }
func (c *frameChecker) u16(pos uint64) uint64 { return uint64(binary.LittleEndian.Uint16(c.buf[pos:])) }
func (c *frameChecker) u32(pos uint64) uint64 { return uint64(binary.LittleEndian.Uint32(c.buf[pos:])) }

func (c *frameChecker) fail(format string, args ...any) error {
	return &malformedError{msg: fmt.Sprintf(format, args...)}
}

func (c *frameChecker) outside(what string, pos uint64) error {
	return c.fail("%s at byte %d is outside the %d-byte frame", what, pos, len(c.buf))
}

// checkFrame checks a size-prefixed frame of at least 12 bytes.
func checkFrame(buf []byte) error {
	c := &frameChecker{buf: buf, budget: decodeBudget(len(buf))}
	return within(c.table(4+c.u32(4), frameShape), "Frame")
}

// table checks the table at pos: its vtable, then each field the shape lists. Fields past the
// end of the vtable were not written (an older peer) and read as their defaults.
func (c *frameChecker) table(pos uint64, s *tableShape) error {
	if !c.fits(pos, 4) {
		return c.outside("table", pos)
	}
	vt := int64(pos) - int64(int32(c.u32(pos)))
	if vt < 0 || !c.fits(uint64(vt), 4) {
		return c.outside("vtable", uint64(max(vt, 0)))
	}
	vtable := uint64(vt)
	vtSize := c.u16(vtable)
	if vtSize < 4 || vtSize%2 != 0 || !c.fits(vtable, vtSize) || !c.fits(pos, c.u16(vtable+2)) {
		return c.fail("vtable at byte %d does not fit in the %d-byte frame", vtable, len(c.buf))
	}
	slotOf := func(i int) uint64 {
		if slot := uint64(4 + 2*i); i >= 0 && slot+2 <= vtSize {
			return c.u16(vtable + slot)
		}
		return 0
	}
	for i, f := range s.fields {
		off := slotOf(i)
		if off == 0 {
			// A union whose type is set and whose table is missing: the decoder would read it
			// as no body and leave the call waiting for an end that never comes.
			if typeOff := slotOf(i - 1); f.kind == unionField && typeOff != 0 && c.u8(pos+typeOff) != 0 {
				return within(c.fail("a body of type %d is named and missing", c.u8(pos+typeOff)), f.name)
			}
			continue
		}
		err := c.field(pos+off, f)
		if err == nil && f.kind == unionField {
			var typ uint64 // the union's type is the field before it
			if typeOff := slotOf(i - 1); typeOff != 0 {
				typ = c.u8(pos + typeOff)
			}
			err = c.union(pos+off, wire.Body(typ))
		}
		if err != nil {
			return within(err, f.name)
		}
	}
	return nil
}

// field checks that field f, stored at pos, and what it refers to fit in the frame.
func (c *frameChecker) field(pos uint64, f fieldShape) error {
	if !c.fits(pos, f.size) {
		return c.outside("field", pos)
	}
	switch f.kind {
	case stringField:
		return c.str(pos + c.u32(pos))
	case tableField:
		return c.table(pos+c.u32(pos), f.of)
	case tableVectorField:
		return c.tableVector(pos+c.u32(pos), f.of)
	}
	return nil
}

func (c *frameChecker) str(pos uint64) error {
	if !c.fits(pos, 4) {
		return c.outside("string", pos)
	}
	n := c.u32(pos)
	if !c.fits(pos+4, n) {
		return c.fail("string of %d bytes at byte %d does not fit in the %d-byte frame",
			n, pos+4, len(c.buf))
	}
	return c.charge(n) // the decoder copies the string
}

// vector checks that the vector at pos and its n elements of size bytes fit in the frame, and
// returns n.
func (c *frameChecker) vector(pos, size uint64) (uint64, error) {
	if !c.fits(pos, 4) {
		return 0, c.outside("vector", pos)
	}
	n := c.u32(pos)
	if !c.fits(pos+4, n*size) {
		return 0, c.fail("%d elements of %d bytes at byte %d do not fit in the %d-byte frame",
			n, size, pos+4, len(c.buf))
	}
	return n, nil
}

func (c *frameChecker) tableVector(pos uint64, s *tableShape) error {
	n, err := c.vector(pos, 4)
	if err != nil {
		return err
	}
	if err := c.charge(n * s.goSize); err != nil { // the decoder makes a slice of n values
		return err
	}
	for j := uint64(0); j < n; j++ {
		elem := pos + 4 + 4*j
		if err := c.table(elem+c.u32(elem), s); err != nil {
			return within(err, fmt.Sprintf("[%d]", j))
		}
	}
	return nil
}

// union checks the body table referred to at pos when the client reads bodies of type typ.
// Errors inside the body are named from the body's table, as the decoder sees it.
func (c *frameChecker) union(pos uint64, typ wire.Body) error {
	s, read := bodyShapes[typ]
	if !read {
		return nil
	}
	target := pos + c.u32(pos)
	if !c.fits(target, 4) {
		return c.outside("table", target)
	}
	if err := c.table(target, s); err != nil {
		err = within(err, s.name)
		if m, ok := err.(*malformedError); ok {
			m.rooted = true
		}
		return err
	}
	return nil
}
