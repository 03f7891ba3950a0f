// The shared vectors: every frame in schemas/vectors decodes to its JSON description.
#include <catch2/catch.hpp>

#include <dirent.h>

#include <fstream>
#include <sstream>

#include <rapidjson/document.h>

#include "frame_description.h"
#include "support/frames.h"

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("every shared vector decodes in C++ to its canonical description") {
  REQUIRE(outrigger::testing::loadBinarySchema(outrigger::testing::defaultBinarySchemaPath()).empty());
  std::string dir = std::string(OUTRIGGER_SOURCE_DIR) + "/schemas/vectors";
  DIR* d = ::opendir(dir.c_str());
  REQUIRE(d);
  int checked = 0;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() < 5 || name.substr(name.size() - 4) != ".bin") continue;
    std::string base = dir + "/" + name.substr(0, name.size() - 4);
    outrigger::testing::AlignedFrame frame(slurp(base + ".bin"));
    std::string described;
    INFO(name);
    REQUIRE(outrigger::testing::describeFrame(frame.data(), frame.size, &described));
    rapidjson::Document got, want;
    got.Parse(described.c_str());
    std::string want_text = slurp(base + ".json");
    want.Parse(want_text.c_str());
    REQUIRE_FALSE(want.HasParseError());
    INFO("got " << described.substr(0, 400));
    CHECK(got == want);
    ++checked;
  }
  ::closedir(d);
  CHECK(checked >= 15);
}
