package outrigger

import (
	"bufio"
	"encoding/binary"
	"math/rand"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/outrigger-dev/outrigger/sdk/go/wire"
)

// Incoming frames are checked before decoding: a length or offset that reaches past the frame
// must be a protocol error, never an allocation sized by the frame or a crash. The corruptions
// are derived from the schema file itself, so a field added to a response table later is
// corrupted here too, whether or not the check knows about it.

// bodiesTheClientReads are the body tables the SDK decodes; it ignores every other body.
var bodiesTheClientReads = map[string]bool{"HelloAck": true, "Error": true, "Ping": true,
	"GoAway": true, "ResponseStart": true, "ResponseChunk": true, "ResponseEnd": true}

// fbsSchema is what the corruption walk needs from schemas/outrigger.fbs: each table's fields
// in order, with their types as written, and which names are unions.
type fbsSchema struct {
	tables map[string][]fbsField
	unions map[string]bool
}

type fbsField struct{ name, typ string }

func loadSchema(t *testing.T) fbsSchema {
	t.Helper()
	f, err := os.Open("../../schemas/outrigger.fbs")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := fbsSchema{tables: map[string][]fbsField{}, unions: map[string]bool{}}
	open := regexp.MustCompile(`^\s*(table|union|enum|struct)\s+(\w+)`)
	field := regexp.MustCompile(`^\s*(\w+)\s*:\s*(\[?\w+\]?)`)
	var table string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "//")
		if m := open.FindStringSubmatch(line); m != nil {
			table = ""
			switch m[1] {
			case "table":
				table = m[2]
				s.tables[table] = nil
			case "union":
				s.unions[m[2]] = true
			}
			continue
		}
		if strings.Contains(line, "}") {
			table = ""
			continue
		}
		if m := field.FindStringSubmatch(line); m != nil && table != "" {
			s.tables[table] = append(s.tables[table], fbsField{m[1], m[2]})
		}
	}
	if len(s.tables["ResponseEnd"]) == 0 || !s.unions["Body"] {
		t.Fatal("schema parse found no ResponseEnd table or Body union")
	}
	return s
}

type siteKind int

const (
	lengthWord siteKind = iota // a string's or vector's element count
	offsetWord                 // a reference to a table
	vtableWord                 // a table's offset to its vtable
)

// corruption is one word of a valid frame that, overwritten, points past the frame.
type corruption struct {
	path string // the field as the check names it, e.g. "ResponseEnd.tool_calls[0].name"
	pos  int
	kind siteKind
}

func (c corruption) apply(frame []byte) []byte {
	out := append([]byte(nil), frame...)
	switch c.kind {
	case lengthWord:
		binary.LittleEndian.PutUint32(out[c.pos:], 0xFFFFFFFF)
	case offsetWord:
		binary.LittleEndian.PutUint32(out[c.pos:], 0x7FFFFFF0)
	case vtableWord:
		binary.LittleEndian.PutUint32(out[c.pos:], uint32(0x80000010)) // a vtable far past the end
	}
	return out
}

// corruptions lists every length and table reference frame holds, walking the schema from
// the root. A word reached by two paths (a shared string) is listed once, under the first.
func corruptions(s fbsSchema, frame []byte) []corruption {
	root := wire.GetSizePrefixedRootAsFrame(frame, 0).Table()
	w := &siteWalker{s: s, buf: frame, seen: map[int]bool{}}
	w.add("Frame", int(root.Pos), vtableWord)
	w.table("Frame", "Frame", root)
	return w.out
}

type siteWalker struct {
	s    fbsSchema
	buf  []byte
	seen map[int]bool
	out  []corruption
}

func (w *siteWalker) add(path string, pos int, kind siteKind) {
	if !w.seen[pos] {
		w.seen[pos] = true
		w.out = append(w.out, corruption{path, pos, kind})
	}
}

func (w *siteWalker) u32(pos uint32) uint32 { return binary.LittleEndian.Uint32(w.buf[pos:]) }

func (w *siteWalker) table(path, name string, tab flatbuffers.Table) {
	slot := flatbuffers.VOffsetT(4)
	for _, fd := range w.s.tables[name] {
		union, typeSlot := w.s.unions[fd.typ], slot
		if union {
			slot += 2 // the union's type field comes first; its value follows
		}
		o := tab.Offset(slot)
		slot += 2
		if o == 0 {
			continue
		}
		at := uint32(tab.Pos) + uint32(o)
		here := path + "." + fd.name
		elem := strings.Trim(fd.typ, "[]")
		_, isTable := w.s.tables[elem]
		switch {
		case union:
			typ := tab.GetUint8(tab.Pos + flatbuffers.UOffsetT(tab.Offset(typeSlot)))
			member := wire.EnumNamesBody[wire.Body(typ)]
			w.add(here, int(at), offsetWord)
			if bodiesTheClientReads[member] { // other bodies are never read, so never checked
				w.nested(member, member, at+w.u32(at))
			}
		case fd.typ == "string":
			w.add(here, int(at+w.u32(at)), lengthWord)
		case strings.HasPrefix(fd.typ, "["):
			vec := at + w.u32(at)
			w.add(here, int(vec), lengthWord)
			for j := uint32(0); j < w.u32(vec); j++ {
				e := vec + 4 + 4*j
				item := here + "[" + strconv.Itoa(int(j)) + "]"
				switch {
				case elem == "string":
					w.add(item, int(e+w.u32(e)), lengthWord)
				case isTable:
					w.add(item, int(e), offsetWord)
					w.nested(item, elem, e+w.u32(e))
				}
			}
		case isTable:
			w.add(here, int(at), offsetWord)
			w.nested(here, elem, at+w.u32(at))
		}
	}
}

func (w *siteWalker) nested(path, name string, pos uint32) {
	w.add(path, int(pos), vtableWord)
	var tab flatbuffers.Table
	tab.Bytes, tab.Pos = w.buf, flatbuffers.UOffsetT(pos)
	w.table(path, name, tab)
}

// responseVectors are the shared vectors whose body the client decodes.
func responseVectors(t *testing.T) []vector {
	var out []vector
	for _, v := range loadVectors(t) {
		if bt, _ := v.desc["body_type"].(string); bodiesTheClientReads[bt] {
			out = append(out, v)
		}
	}
	if len(out) < 7 {
		t.Fatalf("only %d response-side vectors", len(out))
	}
	return out
}

func TestEveryLengthAndOffsetPastTheFrameIsRejected(t *testing.T) {
	s := loadSchema(t)
	total := 0
	for _, v := range responseVectors(t) {
		if _, err := parseFrame(v.bin); err != nil {
			t.Fatalf("%s: the intact vector is rejected: %v", v.name, err)
		}
		for _, c := range corruptions(s, v.bin) {
			total++
			_, err := parseFrame(c.apply(v.bin))
			if err == nil {
				t.Errorf("%s: %s overwritten at byte %d: frame accepted", v.name, c.path, c.pos)
				continue
			}
			if msg := err.Error(); !strings.Contains(msg, "malformed frame: "+c.path+":") {
				t.Errorf("%s: %s overwritten: error %q does not name the field", v.name, c.path, msg)
			}
		}
	}
	// The vectors hold tool calls, verdicts, usage and every string field of the responses.
	if total < 40 {
		t.Fatalf("only %d corruptions tried", total)
	}
	t.Logf("%d corruptions rejected", total)
}

// Whatever bytes a frame holds, a frame the check accepts decodes without a panic: the check
// covers every read the decoder makes.
func TestAcceptedFramesDecodeWithoutPanic(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	accepted := 0
	for _, v := range responseVectors(t) {
		for i := 0; i < 3000; i++ {
			buf := append([]byte(nil), v.bin...)
			for n := 1 + rng.Intn(4); n > 0; n-- {
				pos := 12 + rng.Intn(len(buf)-12) // keep the prefix and the identifier
				buf[pos] = byte(rng.Intn(256))
			}
			f, err := parseFrame(buf)
			if err != nil {
				continue
			}
			accepted++
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("%s mutation %d: accepted, then decoding panicked: %v", v.name, i, r)
					}
				}()
				decodeAnyBody(f)
			}()
		}
	}
	if accepted == 0 {
		t.Fatal("no mutated frame was accepted: the test exercised nothing")
	}
	t.Logf("%d mutated frames accepted and decoded", accepted)
}

// decodeAnyBody decodes f's body the way the client does, whatever its stream id.
func decodeAnyBody(f *wire.Frame) {
	_ = f.StreamId()
	t, ok := bodyTable(f)
	if !ok {
		return
	}
	switch f.BodyType() {
	case wire.BodyHelloAck:
		decodeHelloAck(t)
	case wire.BodyError:
		decodeConnError(t)
	case wire.BodyPing:
		var p wire.Ping
		p.Init(t.Bytes, t.Pos)
		p.Opaque()
	case wire.BodyGoAway:
		var g wire.GoAway
		g.Init(t.Bytes, t.Pos)
		g.LastStreamId()
	case wire.BodyResponseStart:
		decodeStart(t)
	case wire.BodyResponseChunk:
		decodeChunk(t)
	case wire.BodyResponseEnd:
		decodeEnd(t)
	}
}
