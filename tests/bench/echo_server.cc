// The benchmark's baseline: a bare Unix-socket server that answers each Request with the same
// ResponseEnd bytes the sidecar would send for the echo mock, with no chain, plugins or
// guardrails. Worker loops share the listening socket, one thread each.
//   echo_server SOCKET_PATH WORKERS
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ipc/frame_reader.h"
#include "ipc/frame_writer.h"
#include "outrigger_generated.h"

namespace {

namespace w = outrigger::wire;

struct Conn {
  uv_pipe_t pipe;
  outrigger::ipc::FrameReader reader;
  outrigger::ipc::FrameWriter* writer;
  std::string out;
};

struct WriteReq {
  uv_write_t req;
  std::string data;
};

void answer(Conn* c, const w::Frame* f) {
  if (f->body_type() == w::Body::Hello) {
    outrigger::ipc::HelloAckInfo ack;
    ack.server_version = "echo";
    ack.max_frame_size = 4u << 20;
    ack.max_concurrent_streams = 4096;
    c->writer->helloAck(&c->out, ack);
    return;
  }
  const w::Request* r = f->body_as_Request();
  if (!r || !r->messages() || r->messages()->size() == 0) return;
  const auto* last = r->messages()->Get(r->messages()->size() - 1);
  outrigger::ResponseEndInfo end;
  end.content = last->content() ? last->content()->string_view() : std::string_view();
  end.finish_reason = "stop";
  end.model = "mock-1";
  end.trace_id = "00000000000000000000000000000000";
  std::vector<outrigger::Verdict> verdicts = {{"input_rules", outrigger::VerdictKind::kPass, ""}};
  end.verdicts = &verdicts;
  c->writer->responseEnd(&c->out, f->stream_id(), end);
}

void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(s->data);
  if (n < 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
    return;
  }
  c->reader.feed(buf->base, static_cast<size_t>(n), [](void* conn, const uint8_t* frame, size_t size) {
    auto v = outrigger::ipc::verifyFrame(frame, size);
    if (v.ok()) answer(static_cast<Conn*>(conn), v.value());
    return true;
  }, c);
  if (c->out.empty()) return;
  auto* wr = new WriteReq{{}, std::move(c->out)};
  c->out.clear();
  uv_buf_t out = uv_buf_init(wr->data.data(), static_cast<unsigned>(wr->data.size()));
  wr->req.data = wr;
  uv_write(&wr->req, s, &out, 1, [](uv_write_t* req, int) { delete static_cast<WriteReq*>(req->data); });
}

void onConnection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* writer = static_cast<outrigger::ipc::FrameWriter*>(server->data);
  auto* c = new Conn;
  c->writer = writer;
  uv_pipe_init(server->loop, &c->pipe, 0);
  c->pipe.data = c;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
    return;
  }
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->pipe),
                [](uv_handle_t*, size_t, uv_buf_t* buf) {
                  // One read buffer per loop, as the daemon's workers have.
                  thread_local std::unique_ptr<uint64_t[]> shared(new uint64_t[64 * 1024 / 8]);
                  *buf = uv_buf_init(reinterpret_cast<char*>(shared.get()), 64 * 1024);
                },
                onRead);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: echo_server SOCKET WORKERS\n");
    return 2;
  }
  std::string path = argv[1];
  int workers = std::atoi(argv[2]);
  ::unlink(path.c_str());
  uv_loop_t main_loop;
  uv_loop_init(&main_loop);
  uv_pipe_t listener;
  uv_pipe_init(&main_loop, &listener, 0);
  if (uv_pipe_bind(&listener, path.c_str()) != 0) return 1;
  uv_os_fd_t lfd;
  uv_fileno(reinterpret_cast<uv_handle_t*>(&listener), &lfd);
  ::listen(lfd, 1024);
  std::vector<std::thread> threads;
  for (int i = 0; i < workers; ++i) {
    int fd = ::dup(lfd);
    threads.emplace_back([fd] {
      uv_loop_t loop;
      uv_loop_init(&loop);
      outrigger::ipc::FrameWriter writer;
      uv_pipe_t server;
      uv_pipe_init(&loop, &server, 0);
      uv_pipe_open(&server, fd);
      server.data = &writer;
      uv_listen(reinterpret_cast<uv_stream_t*>(&server), 1024, onConnection);
      uv_run(&loop, UV_RUN_DEFAULT);
    });
  }
  for (auto& t : threads) t.join();
  return 0;
}
