// The config watch on a real loop and a real directory: a neighbour written to constantly (as
// the trace store is) delivers no events at all, while the config's own edits still reload.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "config/config.h"
#include "daemon/config_watch.h"
#include "support/daemon_process.h"

using outrigger::daemon::ConfigWatch;

namespace {

// Runs the loop until `done` or `ms` pass.
template <class Done>
void runUntil(uv_loop_t* loop, int ms, Done done) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!done() && std::chrono::steady_clock::now() < until) {
    uv_run(loop, UV_RUN_NOWAIT);
    ::usleep(2000);
  }
}

}  // namespace

TEST_CASE("config watch: writes to a neighbouring file deliver nothing, and an edit of the config reloads") {
  std::string dir = outrigger::testing::makeTempDir();
  std::string config = dir + "/outrigger.toml";
  std::ofstream(config) << "generation one\n";
  // Opened before the watch starts, as the trace store is: its writes are all that follows.
  int neighbour = ::open((dir + "/traces.db-wal").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(neighbour >= 0);

  uv_loop_t loop;
  uv_loop_init(&loop);
  int reloads = 0;
  {
    ConfigWatch watch(&loop, config, [&] { ++reloads; });
    REQUIRE(watch.start());
    for (int i = 0; i < 500; ++i) REQUIRE(::write(neighbour, "0123456789abcdef", 16) == 16);
    runUntil(&loop, 2 * static_cast<int>(ConfigWatch::kDebounceMs), [] { return false; });
    CHECK(watch.eventsDelivered() == 0);
    CHECK(reloads == 0);

    std::ofstream(config) << "generation two\n";  // written and closed, as an editor saving in place
    runUntil(&loop, 5000, [&] { return reloads > 0; });
    CHECK(reloads == 1);
    CHECK(watch.eventsDelivered() > 0);

    // Replaced by a rename, as editors and configuration tools do.
    std::ofstream(dir + "/outrigger.toml.new") << "generation three\n";
    REQUIRE(std::rename((dir + "/outrigger.toml.new").c_str(), config.c_str()) == 0);
    runUntil(&loop, 5000, [&] { return reloads > 1; });
    CHECK(reloads == 2);
    watch.stop();
  }
  ::close(neighbour);
  uv_run(&loop, UV_RUN_NOWAIT);  // the handles' close callbacks
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("config watch: a config created in place is read once its writer closes it, a link at once") {
  std::string dir = outrigger::testing::makeTempDir();
  std::string config = dir + "/outrigger.toml";
  std::ofstream(config) << "generation one\n";
  uv_loop_t loop;
  uv_loop_init(&loop);
  int reloads = 0;
  {
    ConfigWatch watch(&loop, config, [&] { ++reloads; });
    REQUIRE(watch.start());
    // Moved away (not watched for), then written anew at its name by a slow writer.
    REQUIRE(std::rename(config.c_str(), (dir + "/old.toml").c_str()) == 0);
    int fd = ::open(config.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, "generation ", 11) == 11);
    runUntil(&loop, 3 * static_cast<int>(ConfigWatch::kDebounceMs), [] { return false; });
    CHECK(reloads == 0);  // half a file is never read
    REQUIRE(::write(fd, "two\n", 4) == 4);
    ::close(fd);
    runUntil(&loop, 5000, [&] { return reloads > 0; });
    CHECK(reloads == 1);

    // A link put at its name is complete as soon as it exists.
    std::ofstream(dir + "/three.toml") << "generation three\n";
    REQUIRE(::unlink(config.c_str()) == 0);
    REQUIRE(::symlink((dir + "/three.toml").c_str(), config.c_str()) == 0);
    runUntil(&loop, 5000, [&] { return reloads > 1; });
    CHECK(reloads == 2);
    watch.stop();
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("config watch: an edit made after the daemon read its config but before the watch began reloads") {
  std::string dir = outrigger::testing::makeTempDir();
  std::string config = dir + "/outrigger.toml";
  std::ofstream(config) << "generation two\n";  // the file now; the daemon read generation one
  uv_loop_t loop;
  uv_loop_init(&loop);
  int reloads = 0;
  {
    ConfigWatch watch(&loop, config, [&] { ++reloads; });
    REQUIRE(watch.start(outrigger::config::textHash("generation one\n")));
    runUntil(&loop, 5000, [&] { return reloads > 0; });
    CHECK(reloads == 1);
    watch.stop();
  }
  {
    ConfigWatch watch(&loop, config, [&] { ++reloads; });  // started from what the file holds
    REQUIRE(watch.start(outrigger::config::textHash("generation two\n")));
    runUntil(&loop, 3 * static_cast<int>(ConfigWatch::kDebounceMs), [] { return false; });
    CHECK(reloads == 1);
    watch.stop();
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(uv_loop_close(&loop) == 0);
  outrigger::testing::removeTempDir(dir);
}
