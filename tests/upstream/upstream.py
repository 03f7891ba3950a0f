#!/usr/bin/env python3
"""A scripted, fault-injecting LLM upstream for tests (Python standard library only).

Speaks the OpenAI Chat Completions wire format (POST /v1/chat/completions and
/chat/completions, unary and SSE), OpenAI embeddings (POST /v1/embeddings, float or base64) and the Anthropic Messages format (POST /v1/messages, unary
and SSE) on loopback. Each test starts its own server and scripts what the next requests get.

Start:   upstream.py [--port 0] [--tls-cert pem]   prints "PORT <n>" on stdout once listening.
Control (JSON over HTTP on the same port):
  POST /_control/script  {"steps": [step, ...], "default": step, "keep_log": bool}   queue steps (FIFO)
  POST /_control/reset   clears the queue, the default and the log
  GET  /_control/log     [{"seq","t","method","path","headers","body","fault"}, ...]
  POST .../hook         a webhook receiver: logs the body and answers 200 (or the step's fault)
  GET  /_control/stats   {"<fault>": requests answered with it, ...} (kept even without the log)
  GET  /echo/method      {"method", "body"}: how the request arrived (no step is taken); HEAD on any path
                         answers 200 with a Content-Length and, as HEAD must, no body
A step is an object; "fault" picks the behaviour (default "ok"), "repeat" repeats it, "delay_ms"
waits that long before any answer (an error included):
  mix                one of "choices" (steps) drawn by "weights", seeded (soak runs)
  ok                 answer normally; "text", "pieces" (stream events of text), "tool_calls" [{id,name,arguments}], "usage",
                     "finish_reason", "model", "system_fingerprint", "service_tier" (OpenAI) shape the answer
  status             answer with "code" (429, 500, 503, 529 ...), "headers" (e.g.
                     {"retry-after": "1"}), and "error_type" / "error_code" / "message"
  hang               accept, then send nothing for "ms" (default 60000) before answering
  slow_first_byte    wait "ms" before the head, then answer normally
  reset_mid_stream   stream "after" events (default 2) then reset the TCP connection
  no_terminal        stream everything but the terminal event ([DONE] / message_stop)
  reset_after_terminal  stream everything, the terminal event included, then reset the connection before
                     the body's end (the last, empty chunk)
  hold_after_terminal   stream everything, the terminal event included, then hold the connection open for
                     "ms" (default 60000) before the body's end
  after_terminal     stream everything, the terminal event included, then the raw SSE text of "then"
                     (default OpenAI's "data: [DONE]", as some Anthropic-compatible servers add)
  malformed_json     a 200 whose body (or one stream event) is not JSON
  deep_json          valid JSON nested "depth" arrays deep (default 100000) as the body of a "code" answer
                     (default 200), or as one stream event after the head of a stream
  empty_choices      an OpenAI 200 with "choices": []
  not_utf8           an OpenAI answer whose text ("caf\u00e9" unless "text" says) is sent in Latin-1, so its
                     bytes are not UTF-8 (unary: the body; a stream: the events that carry it)
  refusal            an answer whose assistant message carries a refusal ("refusal" text; OpenAI streams it
                     as delta.refusal); Anthropic's is "text" with stop_reason refusal
  drop_before_head   read the request, then close the connection without answering a byte
  reset_before_head  read the request, then reset the connection (RST) without answering a byte
  no_body_status     answer "code" (204 or 304) with a Content-Length of 100 and no body (RFC 9110: none follows)
  huge_header        answer 200 with one header line of "bytes" (200000) bytes, past every client's limit
  short_body         a 200 whose content-length promises more than is sent, then a close
  close_delimited    a 200 with neither content-length nor chunking: the close ends the body
  close_after_response  answer normally (keep-alive), then close the connection while it is idle
"t" in the log is time.monotonic() in seconds at arrival, for measuring backoff.
"""
import argparse
import json
import random
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE_LOCK = threading.Lock()


def step_code(handler):
    return int(getattr(handler, "fault_step", {}).get("code", 304))
STATE = {"steps": [], "default": {"fault": "ok"}, "log": [], "rng": random.Random(1), "keep_log": True,
         "stats": {}}

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 429: "rate_limit_error", 500: "server_error",
               503: "service_unavailable_error", 529: "overloaded_error"}
ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
                   403: "permission_error", 404: "not_found_error", 429: "rate_limit_error",
                   500: "api_error", 504: "timeout_error", 529: "overloaded_error"}


def latin1(text):
    """`text` in Latin-1 where it can be (what is not Latin-1 stays UTF-8): bytes that are not UTF-8."""
    return b"".join(c.encode("latin-1") if ord(c) < 256 else c.encode() for c in text)


def pick(step):
    # "mix": one of "choices" drawn by "weights" (seeded), for soak runs.
    if step.get("fault") != "mix":
        return step
    choices = step.get("choices", [{"fault": "ok"}])
    return dict(STATE["rng"].choices(choices, weights=step.get("weights") or [1] * len(choices))[0])


def next_step():
    with STATE_LOCK:
        steps = STATE["steps"]
        if not steps:
            return pick(dict(STATE["default"]))
        step = steps[0]
        left = step.get("repeat", 1) - 1
        if left <= 0:
            steps.pop(0)
        else:
            step["repeat"] = left
        return pick(dict(step))


def split_text(text, pieces=3):
    if not text:
        return []
    size = max(1, (len(text) + pieces - 1) // pieces)
    return [text[i:i + size] for i in range(0, len(text), size)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, *args):  # keep test output quiet
        pass

    # ---------------------------------------------------------------- plumbing

    def read_body(self):
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def send_json(self, code, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", "req_upstream")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def send_raw(self, code, data, content_type="application/json"):
        self.send_response(code)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def start_stream(self):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def reset(self):
        # SO_LINGER 0 turns close() into a TCP RST: the peer sees a broken stream.
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    # ---------------------------------------------------------------- routing

    def do_GET(self):
        if self.path == "/_control/log":
            with STATE_LOCK:
                return self.send_json(200, STATE["log"])
        if self.path == "/_control/stats":
            with STATE_LOCK:
                return self.send_json(200, STATE["stats"])
        if self.path in ("/health", "/_control/health"):
            return self.send_json(200, {"ok": True})
        if self.path == "/echo/method":  # a request's method and body as the server read them
            return self.echo_method()
        self.send_json(404, {"error": {"message": "not found", "type": "not_found_error", "param": None, "code": None}})

    def do_HEAD(self):
        # What a GET would answer, without its body: a Content-Length the client must not wait for.
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "249")
        self.end_headers()

    def echo_method(self):
        raw = self.read_body()
        self.send_json(200, {"method": self.command, "body": raw.decode(errors="replace")})

    def do_POST(self):
        raw = self.read_body()
        if self.path.startswith("/_control/"):
            return self.control(raw)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_raw": raw.decode(errors="replace")}
        step = next_step()
        fault = step.get("fault", "ok")
        entry = {"t": time.monotonic(), "method": "POST", "path": self.path,
                 "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body, "fault": fault}
        with STATE_LOCK:
            STATE["stats"][fault] = STATE["stats"].get(fault, 0) + 1
            if STATE["keep_log"]:
                entry["seq"] = len(STATE["log"])
                STATE["log"].append(entry)
        if step.get("delay_ms"):
            time.sleep(step["delay_ms"] / 1000.0)
        if fault == "hang":
            time.sleep(step.get("ms", 60000) / 1000.0)
            self.close_connection = True
            return
        if fault == "slow_first_byte":
            time.sleep(step.get("ms", 500) / 1000.0)
        if fault in ("drop_before_head", "reset_before_head", "no_body_status", "short_body", "close_delimited",
                     "huge_header"):
            self.fault_step = step
            return self.transport_fault(fault)
        if fault == "close_after_response":
            self.close_connection = True  # after this answer, which does not announce it
            fault, step = "ok", dict(step, fault="ok")
        anthropic = self.path.rstrip("/").endswith("/messages")
        if fault == "status":
            return self.error(step, anthropic)
        if fault == "deep_json":
            return self.deep_json(body, step, anthropic)
        if self.path.rstrip("/").endswith("chat/completions"):
            return self.openai(body, step, fault)
        if self.path.rstrip("/").endswith("/embeddings"):
            return self.embeddings(body, step, fault)
        if anthropic:
            return self.anthropic(body, step, fault)
        if self.path.rstrip("/").endswith("/hook"):  # a webhook receiver (alert notifications)
            return self.send_json(200, {"status": "received"})
        self.send_json(404, {"error": {"message": "unknown path", "type": "not_found_error", "param": None, "code": None}})

    def transport_fault(self, fault):  # noqa: C901 (one branch per fault)
        self.close_connection = True
        if fault == "drop_before_head":
            return
        if fault == "reset_before_head":
            return self.reset()
        if fault == "huge_header":  # one header line past every client's limit (libcurl 100 KiB, ours 80)
            self.send_response(200)
            self.send_header("x-huge", "h" * int(self.fault_step.get("bytes", 200000)))
            self.send_header("content-length", "0")
            self.end_headers()
            self.wfile.flush()
            return
        if fault == "no_body_status":  # a 204 or 304 whose Content-Length describes a body it never has
            self.send_response(step_code(self))
            self.send_header("content-length", "100")
            self.end_headers()
            self.wfile.flush()
            self.close_connection = False
            return
        answer = json.dumps({"id": "chatcmpl-upstream", "object": "chat.completion", "created": 0, "model": "m",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": "closed by the server"},
                                          "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 1, "completion_tokens": 4, "total_tokens": 5}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        if fault == "short_body":
            self.send_header("content-length", str(len(answer) + 100))
        self.end_headers()
        self.wfile.write(answer)
        self.wfile.flush()

    def control(self, raw):
        req = json.loads(raw or b"{}")
        with STATE_LOCK:
            if self.path == "/_control/script":
                STATE["steps"].extend(req.get("steps", []))
                if "default" in req:
                    STATE["default"] = req["default"]
                if "keep_log" in req:
                    STATE["keep_log"] = bool(req["keep_log"])
            elif self.path == "/_control/reset":
                STATE.update({"steps": [], "default": {"fault": "ok"}, "log": [], "keep_log": True, "stats": {}})
        self.send_json(200, {"ok": True})

    def error(self, step, anthropic):
        code = step.get("code", 500)
        message = step.get("message", "injected failure")
        if anthropic:
            etype = step.get("error_type", ANTHROPIC_TYPES.get(code, "api_error"))
            err = {"type": etype, "message": message}
            if step.get("error_code"):
                err["details"] = {"error_code": step["error_code"]}
            body = {"type": "error", "error": err, "request_id": "req_upstream"}
        else:
            etype = step.get("error_type", ERROR_TYPES.get(code, "server_error"))
            body = {"error": {"message": message, "type": etype, "param": None, "code": step.get("error_code")}}
        self.send_json(code, body, step.get("headers"))

    def deep_json(self, body, step, anthropic):
        # Nesting that overflows a recursive parser: the client must refuse it, not crash.
        depth = step.get("depth", 100000)
        deep = '{"id": "deep", "choices": ' + "[" * depth + "]" * depth + "}"
        if step.get("code", 200) == 200 and body.get("stream"):
            self.start_stream()
            self.chunk(("event: message_start\n" if anthropic else "") + "data: " + deep + "\n\n")
            return self.end_stream()
        self.send_raw(step.get("code", 200), deep.encode())

    # ---------------------------------------------------------------- OpenAI

    def embeddings(self, body, step, fault):
        # Vector i of input text t: [len(t), i, 0.5, -1] (or "dimensions" values), as base64 when asked;
        # an input of token ids counts its ids as its length (and as its tokens). With the step's
        # "vectors": "by_text", a function of the text alone, wherever it sits in the batch: its
        # counts of letters, digits, spaces and other characters.
        if fault == "malformed_json":
            return self.send_raw(200, b'{"object": "list", "data": [')
        inputs = body.get("input", [])
        if isinstance(inputs, str) or (inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        dims = body.get("dimensions") or 4
        if "dims" in step:  # a server that ignores the asked dimensions (0: empty vectors)
            dims = step["dims"]
        data = []
        for i, text in enumerate(inputs):
            if step.get("vectors") == "by_text" and isinstance(text, str):
                kinds = [sum(c.isalpha() for c in text), sum(c.isdigit() for c in text), text.count(" ")]
                vec = [float(k) for k in kinds] + [float(len(text) - sum(kinds))]
            else:
                width = dims + i if step.get("ragged") else dims  # "ragged": vector i is i values longer
                vec = ([float(len(text)), float(i), 0.5, -1.0] + [0.0] * width)[:width]
            if body.get("encoding_format") == "base64":
                import base64
                emb = base64.b64encode(struct.pack("<%df" % len(vec), *vec)).decode()
            else:
                emb = vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(len(t) if isinstance(t, list) else len(t.split()) for t in inputs)
        self.send_json(200, {"object": "list", "data": data, "model": step.get("model", body.get("model", "emb-test")),
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def openai(self, body, step, fault):
        model = step.get("model", body.get("model", "gpt-test"))
        text = step.get("text", "caf\u00e9" if fault == "not_utf8" else "Hello from upstream")
        calls = step.get("tool_calls", [])
        usage = step.get("usage", {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17,
                                   "prompt_tokens_details": {"cached_tokens": 4},
                                   "completion_tokens_details": {"reasoning_tokens": 2}})
        finish = step.get("finish_reason", "tool_calls" if calls else "stop")
        refusal = step.get("refusal", "I can't help with that.") if fault == "refusal" else None
        if fault == "refusal":
            text = None
        head = {"system_fingerprint": step.get("system_fingerprint", "fp_test")}
        if "service_tier" in step:
            head["service_tier"] = step["service_tier"]
        if not body.get("stream"):
            if fault == "malformed_json":
                return self.send_raw(200, b'{"id": "chatcmpl-1", "choices": [')
            message = {"role": "assistant", "content": text, "refusal": refusal}
            if calls:
                message["tool_calls"] = [{"id": c["id"], "type": "function",
                                          "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]
            choices = [] if fault == "empty_choices" else [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}]
            answer = {"id": "chatcmpl-test", "object": "chat.completion", "created": 1700000000,
                      "model": model, "choices": choices, "usage": usage, **head}
            if fault == "not_utf8":
                return self.send_raw(200, latin1(json.dumps(answer, ensure_ascii=False)))
            return self.send_json(200, answer)
        events = []

        def ev(choices, u=None):
            events.append("data: " + json.dumps({"id": "chatcmpl-test", "object": "chat.completion.chunk",
                                                  "created": 1700000000, "model": model, **head,
                                                  "choices": choices, "usage": u}) + "\n\n")

        ev([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}])
        if refusal:
            for piece in split_text(refusal):
                ev([{"index": 0, "delta": {"refusal": piece}, "logprobs": None, "finish_reason": None}])
        for piece in split_text(text or "", step.get("pieces", 3)):
            ev([{"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}])
        for i, c in enumerate(calls):
            args = c["arguments"]
            half = len(args) // 2
            ev([{"index": 0, "delta": {"tool_calls": [{"index": i, "id": c["id"], "type": "function",
                                                        "function": {"name": c["name"], "arguments": args[:half]}}]},
                 "logprobs": None, "finish_reason": None}])
            ev([{"index": 0, "delta": {"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]},
                 "logprobs": None, "finish_reason": None}])
        ev([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}])
        if (body.get("stream_options") or {}).get("include_usage"):
            ev([], usage)
        if fault == "malformed_json":
            events.insert(2, "data: {\"choices\": [\n\n")
        if fault == "not_utf8":
            events = [b"data: " + latin1(json.dumps(json.loads(e[len("data: "):]), ensure_ascii=False)) + b"\n\n"
                      for e in events]
        terminal = [] if fault == "no_terminal" else ["data: [DONE]\n\n"]
        self.stream(events, terminal, step, fault)

    def stream(self, events, terminal, step, fault):
        self.start_stream()
        gap = step.get("gap_ms", 0) / 1000.0
        for i, e in enumerate(events):
            if fault == "reset_mid_stream" and i >= step.get("after", 2):
                return self.reset()
            self.chunk(e)
            if gap:
                time.sleep(gap)
        for e in terminal:
            self.chunk(e)
        if fault == "after_terminal":
            self.chunk(step.get("then", "data: [DONE]\n\n"))
        if fault == "reset_after_terminal":
            return self.reset()
        if fault == "hold_after_terminal":
            time.sleep(step.get("ms", 60000) / 1000.0)
            self.close_connection = True
            try:
                self.end_stream()
            except OSError:
                pass  # the client gave up on the body meanwhile
            return
        self.end_stream()

    # ---------------------------------------------------------------- Anthropic

    def anthropic(self, body, step, fault):
        model = step.get("model", body.get("model", "claude-test"))
        text = step.get("text", "Hello from upstream")
        calls = step.get("tool_calls", [])
        usage = step.get("usage", {"input_tokens": 10, "output_tokens": 6,
                                   "cache_creation_input_tokens": 0, "cache_read_input_tokens": 3})
        stop = step.get("stop_reason", "tool_use" if calls else ("refusal" if fault == "refusal" else "end_turn"))
        content = [{"type": "text", "text": text}] if text else []
        for c in calls:
            content.append({"type": "tool_use", "id": c["id"], "name": c["name"], "input": json.loads(c["arguments"])})
        if not body.get("stream"):
            if fault == "malformed_json":
                return self.send_raw(200, b'{"id": "msg_1", "content": [')
            return self.send_json(200, {"id": "msg_test", "type": "message", "role": "assistant", "content": content,
                                        "model": model, "stop_reason": stop, "stop_sequence": None, "usage": usage})
        events = []

        def ev(name, data):
            data["type"] = name
            events.append("event: %s\ndata: %s\n\n" % (name, json.dumps(data)))

        start_usage = dict(usage, output_tokens=1)
        ev("message_start", {"message": {"id": "msg_test", "type": "message", "role": "assistant", "content": [],
                                         "model": model, "stop_reason": None, "stop_sequence": None,
                                         "usage": start_usage}})
        ev("ping", {})
        index = 0
        if text:
            ev("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
            for piece in split_text(text):
                ev("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": piece}})
            ev("content_block_stop", {"index": index})
            index += 1
        for c in calls:
            ev("content_block_start", {"index": index, "content_block": {"type": "tool_use", "id": c["id"],
                                                                         "name": c["name"], "input": {}}})
            args = c["arguments"]
            half = len(args) // 2
            for part in (args[:half], args[half:]):
                ev("content_block_delta", {"index": index, "delta": {"type": "input_json_delta", "partial_json": part}})
            ev("content_block_stop", {"index": index})
            index += 1
        ev("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                             "usage": {"output_tokens": usage.get("output_tokens", 0)}})
        if fault == "malformed_json":
            events.insert(2, "event: content_block_delta\ndata: {\"index\": \n\n")
        terminal = [] if fault == "no_terminal" else ["event: message_stop\ndata: {\"type\": \"message_stop\"}\n\n"]
        self.stream(events, terminal, step, fault)


class QuietServer(ThreadingHTTPServer):
    """A client that goes away mid-answer (a cancel, a deadline) is normal here, not an error to
    print a traceback for; anything else still is."""

    request_queue_size = 512  # many clients connect at once in soak and bench runs
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM, key included)")
    args = parser.parse_args()
    server = QuietServer(("127.0.0.1", args.port), Handler)
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("PORT %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
