#include "cli/store_options.h"

#include <chrono>
#include <cstdio>

#include "config/config.h"
#include "traces/store_location.h"
#include "traces/trace_store.h"

namespace outrigger::cli {
namespace {

// The store: --db, else the one the config (--config, else the embedded default) writes.
std::string storePath(const Options& opt, std::string* error) {
  if (!opt.db_path.empty()) return opt.db_path;
  auto settings = opt.config_path.empty() ? config::loadDefaultConfig() : config::loadConfigFile(opt.config_path);
  if (!settings.ok()) {
    *error = settings.status().message();
    return {};
  }
  std::string path = traces::storePathOf(*settings);
  if (path.empty()) *error = settings->source + " has no exporter.sqlite instance; pass --db";
  return path;
}

}  // namespace

traces::Database openStore(const Options& opt, const char* command) {
  std::string error;
  std::string path = storePath(opt, &error);
  traces::Database db = path.empty() ? nullptr : traces::openStoreForReading(path, &error);
  if (!db) std::fprintf(stderr, "outrigger %s: %s\n", command, error.c_str());
  return db;
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  char hex[8];
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    bool c1 = c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
              static_cast<unsigned char>(text[i + 1]) <= 0x9F;  // U+0080..U+009F in UTF-8
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) {
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else if (c1) {
      std::snprintf(hex, sizeof hex, "\\u%04x", static_cast<unsigned char>(text[++i]));
      out += hex;
    } else {
      out += char(c);
    }
  }
  return out;
}

int64_t nowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool filterOf(const Options& opt, const char* command, traces::TraceFilter* f) {
  *f = opt.trace_filter;
  int64_t now = nowUnixNs();
  if (!opt.since.empty() && !traces::parseTimeBound(opt.since, now, &f->since_unix_ns)) {
    std::fprintf(stderr, "outrigger %s: --since %s: use 15m, 2h, 7d, Unix seconds or 2026-12-03T01:00:00Z\n",
                 command, opt.since.c_str());
    return false;
  }
  if (!opt.until.empty() && !traces::parseTimeBound(opt.until, now, &f->until_unix_ns)) {
    std::fprintf(stderr, "outrigger %s: --until %s: use 15m, 2h, 7d, Unix seconds or 2026-12-03T01:00:00Z\n",
                 command, opt.until.c_str());
    return false;
  }
  // 0 is the filter's "no bound": --until 0 (before the epoch) becomes a bound nothing is before.
  if (!opt.until.empty() && f->until_unix_ns == 0) f->until_unix_ns = -1;
  std::string error;
  if (!traces::validFilter(*f, &error)) {  // a usage error, found before the store is opened
    std::fprintf(stderr, "outrigger %s: %s\n", command, error.c_str());
    return false;
  }
  return true;
}

}  // namespace outrigger::cli
