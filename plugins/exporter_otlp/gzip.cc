#include "gzip.h"

#include <zlib.h>

namespace outrigger::otlp {
namespace {

constexpr int kGzipWindow = 15 + 16;  // windowBits 15, plus 16: a gzip header and trailer

}  // namespace

bool gzip(std::string_view data, std::string* out) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, kGzipWindow, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  std::string buf(deflateBound(&z, static_cast<uLong>(data.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(buf.data());
  z.avail_out = static_cast<uInt>(buf.size());
  int rc = deflate(&z, Z_FINISH);
  size_t n = z.total_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return false;
  buf.resize(n);
  *out = std::move(buf);
  return true;
}

bool gunzip(std::string_view data, std::string* out, size_t max_bytes) {
  z_stream z{};
  if (inflateInit2(&z, kGzipWindow) != Z_OK) return false;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  std::string result;
  char chunk[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    result.append(chunk, sizeof chunk - z.avail_out);
    if (result.size() > max_bytes) rc = Z_MEM_ERROR;
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) rc = Z_BUF_ERROR;  // truncated stream
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return false;
  *out = std::move(result);
  return true;
}

}  // namespace outrigger::otlp
