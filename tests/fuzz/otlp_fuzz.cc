// exporter.otlp on what it reads back: a collector's protobuf answers (partial success, error
// status), and spool directories whose segment and cursor files hold arbitrary bytes (a disk
// that lost or damaged them). A spool must open, hand out only batches whose CRC holds, come to
// an end within as many steps as its files could hold batches, end empty, and then spool and
// return a new batch as if it were new.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "otlp_proto.h"
#include "spool.h"

using namespace outrigger::otlp;

namespace {

const std::string& spoolDir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    return std::string(tmp && *tmp ? tmp : "/tmp") + "/otlp_fuzz_spool." + std::to_string(::getpid());
  }();
  return dir;
}

void clearDir(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") ::unlink((dir + "/" + name).c_str());
    }
    ::closedir(d);
  }
  ::mkdir(dir.c_str(), 0700);
}

void writeFile(const std::string& path, std::string_view bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
  std::fclose(f);
}

std::unique_ptr<Spool> openSpool() {
  Spool::OpenError error;
  std::string detail;
  std::unique_ptr<Spool> spool = Spool::open(spoolDir(), 1 << 20, &error, &detail);
  if (!spool) std::abort();  // damaged files are the spool's to cope with, not a reason to refuse
  return spool;
}

void fuzzSpool(std::string_view input) {
  // [flags][16-byte cursor][split][segments...]: the cursor file when flags says so, then the
  // rest cut at `split` into segments 1 and 2.
  if (input.size() < 18) return;
  const uint8_t flags = static_cast<uint8_t>(input[0]);
  const std::string_view cursor = input.substr(1, 16), rest = input.substr(18);
  const size_t split = rest.size() * static_cast<uint8_t>(input[17]) / 255;
  clearDir(spoolDir());
  if (flags & 1) writeFile(spoolDir() + "/cursor", cursor);
  writeFile(spoolDir() + "/00000000000000000001.seg", rest.substr(0, split));
  if (flags & 2) writeFile(spoolDir() + "/00000000000000000002.seg", rest.substr(split));
  const size_t most = 2 + rest.size() / 24;  // a batch is a 24-byte header and its body
  const size_t ahead = 1 + (flags >> 2) % 4;  // batches out at once before the oldest is acknowledged
  {
    std::unique_ptr<Spool> spool = openSpool();
    size_t steps = 0;
    for (Spool::Entry e; steps <= most;) {
      while (spool->outstanding() < ahead && spool->next(&e)) ++steps;
      if (spool->outstanding() == 0) break;
      spool->pop();
    }
    if (steps > most || !spool->empty() || spool->items() != 0) std::abort();
    // Still a working spool: a new batch goes in and comes back whole.
    Spool::Entry in{1, 3, "batch", 1}, out;
    if (spool->append(in) != Spool::Append::kOk || !spool->next(&out)) std::abort();
    if (out.body != in.body || out.items != in.items || out.signal != in.signal || out.encoding != in.encoding) std::abort();
    spool->pop();
    if (!spool->empty()) std::abort();
  }
  // And after a restart it holds nothing to send again.
  std::unique_ptr<Spool> reopened = openSpool();
  Spool::Entry e;
  if (!reopened->empty() || reopened->next(&e)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    std::string message;
    const uint64_t rejected = pb::partialRejections(rest, &message);
    if (message.size() > rest.size() || (rejected && rest.empty())) std::abort();
    if (pb::statusMessage(rest).size() > rest.size()) std::abort();
    const std::string shown = pb::printable(rest);
    for (char c : shown) {
      if (c < 0x20 || c > 0x7e) std::abort();
    }
  } else {
    fuzzSpool(rest);
  }
  return 0;
}
