// exporter.jsonl when its file cannot be opened: tried again on later flushes after a back-off
// on the host's clock (fake here), picked up again once it opens, after a rotation too, and its
// failures logged at most once a minute.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>
#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "chain/host_api.h"
#include "plugin/instance.h"
#include "plugin/loader.h"
#include "support/daemon_process.h"
#include "telemetry/record_view.h"

using namespace outrigger;

namespace {

uint64_t g_now_ns = 1;
std::vector<std::pair<outrigger_log_level, std::string>> g_logs;

// The host's API with its clock and log replaced, so a test moves time and reads what was logged.
outrigger_host_api fakeHost() {
  outrigger_host_api api = chain::hostApiTemplate();
  api.now_ns = [](void*) noexcept { return g_now_ns; };
  api.log = [](void*, outrigger_log_level level, outrigger_str m) noexcept {
    g_logs.emplace_back(level, std::string(m.data ? m.data : "", m.size));
  };
  return api;
}

struct ReopeningJsonl {
  std::string dir = testing::makeTempDir() + "/logs";
  std::string path = dir + "/records.jsonl";
  std::shared_ptr<plugin::PluginInstance> inst;
  telemetry::RequestRecord record;

  explicit ReopeningJsonl(const std::string& extra = "") {
    g_now_ns = 1;
    g_logs.clear();
    std::filesystem::create_directories(dir);
    auto types = plugin::loadLibrary(std::string(OUTRIGGER_PLUGIN_DIR) + "/exporter_jsonl.so");
    REQUIRE(types.ok());
    config::InstanceSettings s{"log", "exporter", "jsonl", R"({"path": ")" + path + "\"" + extra + "}",
                               config::OnError::kSkip, "t:1", {}};
    auto created = plugin::PluginInstance::create(*types.value()[0], s, fakeHost());
    REQUIRE(created.ok());
    inst = created.value();
    record.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    record.route_name = "default";
  }
  outrigger_status write() {
    telemetry::RecordView view(record);
    return inst->exporter()->export_record(inst->handle(), view.get());
  }
  size_t lines(const std::string& file) const {
    std::ifstream in(file);
    size_t n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  }
  size_t errors() const {
    size_t n = 0;
    for (const auto& [level, text] : g_logs) n += level == OUTRIGGER_LOG_ERROR;
    return n;
  }
};

constexpr uint64_t kSecond = 1000000000ull;

}  // namespace

TEST_CASE("jsonl: a file that cannot be opened is tried again after a back-off, and written once it opens") {
  ReopeningJsonl log;
  std::filesystem::remove_all(log.dir);  // created at create, gone by the first record
  CHECK(log.write() == OUTRIGGER_E_INTERNAL);
  CHECK(log.errors() == 1);
  std::filesystem::create_directories(log.dir);
  g_now_ns += kSecond / 2;
  CHECK(log.write() == OUTRIGGER_E_INTERNAL);  // still backing off: not tried, dropped
  CHECK_FALSE(std::filesystem::exists(log.path));
  g_now_ns += kSecond;
  CHECK(log.write() == OUTRIGGER_OK);
  CHECK(log.write() == OUTRIGGER_OK);
  CHECK(log.lines(log.path) == 2);
  CHECK(log.errors() == 1);
}

TEST_CASE("jsonl: an open that fails after a rotation is tried again, not given up for good") {
  ReopeningJsonl log(R"(, "max_file_bytes": 1024)");
  log.record.message = std::string(600, 'm');  // two lines pass max_file_bytes: the second rotates
  REQUIRE(log.write() == OUTRIGGER_OK);
  std::filesystem::remove_all(log.dir);  // the rotation's rename and reopen both fail
  for (int i = 0; i < 3; ++i) CHECK(log.write() == OUTRIGGER_E_INTERNAL);
  std::filesystem::create_directories(log.dir);
  g_now_ns += 2 * kSecond;
  CHECK(log.write() == OUTRIGGER_OK);
  CHECK(log.lines(log.path) == 1);
}

TEST_CASE("jsonl: failures are logged at once, then at most once a minute with how many went unlogged") {
  ReopeningJsonl log;
  std::filesystem::remove_all(log.dir);
  for (int i = 0; i < 600; ++i) {
    CHECK(log.write() == OUTRIGGER_E_INTERNAL);
    g_now_ns += kSecond / 4;  // 150 s of records, four a second
  }
  // Opens tried at 0, 1, 3, 7, 15, 31, 63 and 123 s (the back-off doubling up to a minute);
  // logged at 0, 63 (with the five between) and 123 s.
  CHECK(log.errors() == 3);
  size_t summed = 0;
  for (const auto& [level, text] : g_logs) summed += text.find("(5 more failures since the last report)") != std::string::npos;
  CHECK(summed == 1);
}

TEST_CASE("jsonl: a file removed with its folder while open is created again at the next write") {
  ReopeningJsonl log;
  REQUIRE(log.write() == OUTRIGGER_OK);
  REQUIRE(log.lines(log.path) == 1);
  std::filesystem::remove_all(log.dir);
  std::filesystem::create_directories(log.dir);
  g_now_ns += kSecond;  // looked for at most once a second
  CHECK(log.write() == OUTRIGGER_OK);
  CHECK(log.lines(log.path) == 1);
  std::filesystem::rename(log.path, log.path + ".shipped");  // a log shipper takes it
  g_now_ns += kSecond;
  CHECK(log.write() == OUTRIGGER_OK);
  CHECK(log.lines(log.path) == 1);
  CHECK(log.lines(log.path + ".shipped") == 1);
}

TEST_CASE("jsonl: a write the disk cuts short leaves no torn line for the next record to join") {
  ReopeningJsonl log;
  REQUIRE(log.write() == OUTRIGGER_OK);
  const auto size = std::filesystem::file_size(log.path);
  // The file may grow by 100 bytes: a 600-byte line is cut there, and the write then fails.
  struct sigaction ignore {}, old {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGXFSZ, &ignore, &old);
  rlimit before{};
  ::getrlimit(RLIMIT_FSIZE, &before);
  rlimit small = before;
  small.rlim_cur = size + 100;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  log.record.message = std::string(600, 'm');
  CHECK(log.write() == OUTRIGGER_E_INTERNAL);
  ::setrlimit(RLIMIT_FSIZE, &before);
  ::sigaction(SIGXFSZ, &old, nullptr);
  CHECK(std::filesystem::file_size(log.path) == size);
  log.record.message = "after";
  CHECK(log.write() == OUTRIGGER_OK);
  std::ifstream in(log.path);
  size_t parsed = 0;
  for (std::string line; std::getline(in, line);) {
    rapidjson::Document d;
    d.Parse(line.c_str());
    CHECK_FALSE(d.HasParseError());
    parsed += !d.HasParseError();
  }
  CHECK(parsed == 2);
}
