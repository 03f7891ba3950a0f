package outrigger

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/outrigger-dev/outrigger/sdk/go/wire"
)

// Many offsets may point to one table, and the decoder copies the table once per offset. A
// small frame that shares one large string among many tool calls must be rejected before it
// is decoded, while frames written the ordinary way, large or with many fields, still pass.
// The shared frames here stay at a few hundred MB decoded, so a check that lets them through
// makes these tests fail rather than exhaust memory.

// toolCallsEnd builds an OK ResponseEnd holding calls tool calls. With shared set they all
// point to one ToolCall table with an arguments string of argBytes; otherwise each call has
// its own table and string.
func toolCallsEnd(id uint64, calls, argBytes int, shared bool) []byte {
	return serverFrame(id, wire.BodyResponseEnd, func(b *flatbuffers.Builder) flatbuffers.UOffsetT {
		toolCall := func(i int) flatbuffers.UOffsetT {
			name := b.CreateString(fmt.Sprintf("tool_%d", i))
			args := b.CreateString(strings.Repeat("a", argBytes))
			wire.ToolCallStart(b)
			wire.ToolCallAddName(b, name)
			wire.ToolCallAddArguments(b, args)
			return wire.ToolCallEnd(b)
		}
		offsets := make([]flatbuffers.UOffsetT, calls)
		for i := range offsets {
			if shared && i > 0 {
				offsets[i] = offsets[0]
			} else {
				offsets[i] = toolCall(i)
			}
		}
		wire.ResponseEndStartToolCallsVector(b, calls)
		for i := calls - 1; i >= 0; i-- {
			b.PrependUOffsetT(offsets[i])
		}
		vec := b.EndVector(calls)
		wire.ResponseEndStart(b)
		wire.ResponseEndAddStatus(b, wire.Status(StatusOK))
		wire.ResponseEndAddToolCalls(b, vec)
		return wire.ResponseEndEnd(b)
	})
}

func TestSharedStringPastTheDecodeBudgetIsRejected(t *testing.T) {
	// 4096 copies of 64 KiB: a 100 KiB frame that would decode to 256 MiB.
	frame := toolCallsEnd(1, 4096, 64<<10, true)
	if len(frame) > 128<<10 {
		t.Fatalf("the crafted frame is %d bytes; the test expects a small one", len(frame))
	}
	_, err := parseFrame(frame)
	if err == nil {
		t.Fatal("a frame decoding to 256 MiB was accepted")
	}
	msg := err.Error()
	if !strings.Contains(msg, "malformed frame: ResponseEnd.tool_calls[") ||
		!strings.Contains(msg, "decodes to more than") {
		t.Fatalf("error %q does not name the shared field and the budget", msg)
	}
}

// Sharing alone is legal: a few references to one table stay within the budget.
func TestSharedTableWithinTheDecodeBudgetIsAccepted(t *testing.T) {
	frame := toolCallsEnd(1, 8, 1<<10, true)
	f, err := parseFrame(frame)
	if err != nil {
		t.Fatalf("8 references to a 1 KiB tool call rejected: %v", err)
	}
	resp, _ := decodeEnd(mustBody(t, f))
	if len(resp.ToolCalls) != 8 || len(resp.ToolCalls[7].Arguments) != 1<<10 {
		t.Fatalf("decoded %d tool calls", len(resp.ToolCalls))
	}
}

// Frames written one table per call decode to about their own size, however the bytes are
// spread: one huge argument string, or thousands of small calls.
func TestOrdinaryFramesStayWithinTheDecodeBudget(t *testing.T) {
	for _, tc := range []struct{ calls, argBytes int }{{1, 3 << 20}, {20000, 0}, {20000, 16}, {500, 4 << 10}} {
		frame := toolCallsEnd(1, tc.calls, tc.argBytes, false)
		f, err := parseFrame(frame)
		if err != nil {
			t.Errorf("%d calls of %d-byte arguments (%d-byte frame) rejected: %v",
				tc.calls, tc.argBytes, len(frame), err)
			continue
		}
		if resp, _ := decodeEnd(mustBody(t, f)); len(resp.ToolCalls) != tc.calls {
			t.Errorf("decoded %d tool calls, want %d", len(resp.ToolCalls), tc.calls)
		}
	}
}

// The rejection takes the path of any malformed frame: the call fails with a retryable
// UNAVAILABLE, the connection is dropped, and the next call gets a new one.
func TestSharedStringFrameDropsTheConnection(t *testing.T) {
	srv := newFakeServer(t, ackSpec{})
	c := dialFake(t, srv)
	fc := srv.next(t)
	errc := make(chan error, 1)
	go func() { _, err := c.Chat(context.Background(), user("x")); errc <- err }()
	id := fc.recvType(t, "Request").id
	fc.send(toolCallsEnd(id, 2048, 64<<10, true)) // 128 MiB if decoded
	err := waitErr(t, errc)
	if !errors.Is(err, ErrUnavailable) || !IsRetryable(err) || !strings.Contains(err.Error(), "decodes to more than") {
		t.Fatalf("got %v, want a retryable UNAVAILABLE for the decode budget", err)
	}
	expectDroppedThenServed(t, srv, fc, c)
}

func mustBody(t *testing.T, f *wire.Frame) flatbuffers.Table {
	t.Helper()
	tab, ok := bodyTable(f)
	if !ok {
		t.Fatal("the frame has no body")
	}
	return tab
}
