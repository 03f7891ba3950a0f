#!/usr/bin/env python3
"""An HTTPS upstream that speaks only HTTP/2 (negotiated by TLS ALPN), for tests.

Uses the h2 protocol library (Debian python3-h2). Answers POST .../chat/completions with a fixed
OpenAI chat completion and logs, per request, the protocol it arrived on, so a test can assert
that the client negotiated HTTP/2.

Start:   h2_upstream.py --tls-cert pem [--port 0]   prints "PORT <n>" on stdout once listening.
Control: GET /_control/log -> [{"protocol", "method", "path"}, ...]
"""
import argparse
import json
import socket
import ssl
import sys
import threading

import h2.config
import h2.connection
import h2.events

LOCK = threading.Lock()
LOG = []


def answer(conn, stream_id, request):
    method, path = request["headers"].get(":method"), request["headers"].get(":path")
    if path == "/_control/log":
        with LOCK:
            body = json.dumps(LOG).encode()
    else:
        with LOCK:
            LOG.append({"protocol": "h2", "method": method, "path": path})
        model = json.loads(request["body"] or b"{}").get("model", "gpt-test")
        body = json.dumps({"id": "chatcmpl-h2", "object": "chat.completion", "created": 1700000000, "model": model,
                           "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                        "message": {"role": "assistant", "content": "Hello over h2"}}],
                           "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}}).encode()
    conn.send_headers(stream_id, [(":status", "200"), ("content-type", "application/json"),
                                  ("content-length", str(len(body)))])
    conn.send_data(stream_id, body, end_stream=True)


def serve(sock):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    requests = {}
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    requests[event.stream_id] = {"headers": dict(event.headers), "body": b""}
                elif isinstance(event, h2.events.DataReceived):
                    requests[event.stream_id]["body"] += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    answer(conn, event.stream_id, requests.pop(event.stream_id))
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
    except (OSError, ssl.SSLError):
        pass
    finally:
        sock.close()


def accept(listener, ctx):
    while True:
        raw, _ = listener.accept()
        try:
            tls = ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            continue
        if tls.selected_alpn_protocol() != "h2":
            with LOCK:
                LOG.append({"protocol": tls.selected_alpn_protocol() or "http/1.1", "method": None, "path": None})
            tls.close()
            continue
        threading.Thread(target=serve, args=(tls,), daemon=True).start()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls-cert", required=True, help="certificate and key, PEM")
    args = parser.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls_cert)
    ctx.set_alpn_protocols(["h2"])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(64)
    print("PORT %d" % listener.getsockname()[1], flush=True)
    accept(listener, ctx)


if __name__ == "__main__":
    sys.exit(main())
