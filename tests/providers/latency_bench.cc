// Added latency of the sidecar over an HTTP upstream: the same unary chat call made directly to
// the upstream (libcurl, keep-alive) and through the daemon (C++ SDK -> provider.openai -> the
// same upstream), at 1 and 64 concurrent requests, p50/p99 and the ratio, measured in one run.
// Hidden from the default run:  provider_tests "[bench]"   (OUTRIGGER_BENCH_REQUESTS, default 2000)
#include <catch2/catch.hpp>

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <outrigger/client.h>

#include "support/daemon_process.h"
#include "support/sdk_requests.h"
#include "upstream_process.h"

using namespace outrigger;
using namespace outrigger::testing;
using namespace std::chrono;

namespace {

size_t discard(char*, size_t size, size_t count, void*) { return size * count; }

struct Percentiles {
  double p50 = 0, p99 = 0;
};

Percentiles percentiles(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return {};
  return {v[v.size() / 2], v[std::min(v.size() - 1, v.size() * 99 / 100)]};
}

// Runs `total` calls over `concurrency` threads; each thread gets its own call function.
std::vector<double> run(int concurrency, int total, const std::function<std::function<bool()>()>& make_call) {
  std::vector<std::vector<double>> per(concurrency);
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      auto call = make_call();
      while (next.fetch_add(1) < total) {
        auto t0 = steady_clock::now();
        if (!call()) failures++;
        per[t].push_back(duration<double, std::micro>(steady_clock::now() - t0).count());
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  std::vector<double> all;
  for (auto& p : per) all.insert(all.end(), p.begin(), p.end());
  return all;
}

}  // namespace

TEST_CASE("bench: sidecar latency over a direct HTTP upstream call, 1 and 64 concurrent", "[.bench]") {
  const int total = std::getenv("OUTRIGGER_BENCH_REQUESTS") ? std::atoi(std::getenv("OUTRIGGER_BENCH_REQUESTS")) : 2000;
  UpstreamProcess upstream;
  REQUIRE(upstream.ready());
  REQUIRE(upstream.post("/_control/script", R"({"keep_log": false})") == 200);
  ::setenv("OUTRIGGER_TEST_OPENAI_KEY", "sk-bench", 1);
  // The same daemon twice: http:// on the plain HTTP/1.1 transport (the default), then on libcurl.
  auto config = [&](bool plain_http1) {
    return std::string("[server]\nsocket = \"@SOCKET@\"\nworkers = 1\nupstream_plain_http1 = ") +
           (plain_http1 ? "true" : "false") + "\n[plugins]\ndirs = [\"@PLUGINS@\"]\n" +
           "[instances.openai]\ntype = \"provider.openai\"\n[instances.openai.config]\nbase_url = \"" +
           upstream.baseUrl() + "/v1\"\napi_key = \"${OUTRIGGER_TEST_OPENAI_KEY}\"\n" +
           "[routes.default]\nprovider = \"openai\"\nmodel = \"gpt-bench\"\n";
  };
  DaemonProcess plain(config(true)), curl(config(false));
  REQUIRE(plain.waitReady());
  REQUIRE(curl.waitReady());
  const std::string url = upstream.baseUrl() + "/v1/chat/completions";
  const std::string body = R"({"model":"gpt-bench","messages":[{"role":"user","content":"bench"}]})";

  auto direct = [&] {
    return std::function<bool()>([&, e = std::shared_ptr<CURL>(curl_easy_init(), curl_easy_cleanup),
                                  h = std::shared_ptr<curl_slist>(
                                      curl_slist_append(nullptr, "content-type: application/json"), curl_slist_free_all)] {
      curl_easy_setopt(e.get(), CURLOPT_URL, url.c_str());
      curl_easy_setopt(e.get(), CURLOPT_HTTPHEADER, h.get());
      curl_easy_setopt(e.get(), CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(e.get(), CURLOPT_WRITEFUNCTION, &discard);
      long code = 0;
      return curl_easy_perform(e.get()) == CURLE_OK &&
             curl_easy_getinfo(e.get(), CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200;
    });
  };
  auto sidecar = [&](DaemonProcess& daemon) {
    return std::function<std::function<bool()>()>([&daemon] {
      auto c = std::make_shared<client::Client>(at(daemon));
      return std::function<bool()>([c] { return c->chat(ask("bench")).ok(); });
    });
  };

  for (int concurrency : {1, 64}) {
    int n = concurrency == 1 ? total / 4 : total;
    run(concurrency, std::min(n, 200), direct);  // warm up connections on every path
    run(concurrency, std::min(n, 200), sidecar(plain));
    run(concurrency, std::min(n, 200), sidecar(curl));
    Percentiles d = percentiles(run(concurrency, n, direct));
    for (auto [name, daemon] : {std::pair<const char*, DaemonProcess*>{"plain", &plain}, {"libcurl", &curl}}) {
      Percentiles s = percentiles(run(concurrency, n, sidecar(*daemon)));
      std::printf("bench: concurrency %2d, %d calls: direct p50 %.0f us p99 %.0f us | via sidecar (%s) p50 %.0f us p99 %.0f us | "
                  "added p50 %.0f us p99 %.0f us | ratio p50 %.2f p99 %.2f\n",
                  concurrency, n, d.p50, d.p99, name, s.p50, s.p99, s.p50 - d.p50, s.p99 - d.p99, s.p50 / d.p50, s.p99 / d.p99);
      CHECK(s.p50 > 0);
    }
  }
}
