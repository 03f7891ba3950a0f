// frame_describe FILE: prints the canonical JSON description of one size-prefixed frame.
// Used by every SDK's tests to check the frames they encode.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "frame_description.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: frame_describe FILE\n");
    return 2;
  }
  if (std::string err = outrigger::testing::loadBinarySchema(outrigger::testing::defaultBinarySchemaPath()); !err.empty()) {
    std::fprintf(stderr, "frame_describe: %s\n", err.c_str());
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "frame_describe: cannot open %s\n", argv[1]);
    return 2;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string bytes = ss.str();
  std::vector<uint64_t> aligned((bytes.size() + 7) / 8);
  std::memcpy(aligned.data(), bytes.data(), bytes.size());
  std::string out;
  if (!outrigger::testing::describeFrame(reinterpret_cast<const uint8_t*>(aligned.data()), bytes.size(), &out)) {
    std::fprintf(stderr, "frame_describe: %s: %s\n", argv[1], out.c_str());
    return 1;
  }
  std::printf("%s\n", out.c_str());
  return 0;
}
