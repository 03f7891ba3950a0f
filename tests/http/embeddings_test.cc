// The OpenAI embeddings body -> wire Request + EmbedInput translation, and the answer shapes.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include "http/chat_request.h"
#include "http/embeddings_response.h"
#include "outrigger_generated.h"

using namespace outrigger;
using namespace outrigger::http;

namespace {

struct Built {
  bool ok = false;
  ChatCall call;
  RequestError error;
};

Built build(const std::string& body, const CallMetadata& meta = {}) {
  Built b;
  b.ok = buildEmbeddingsCall(body, meta, &b.call, &b.error);
  return b;
}

std::string s(const flatbuffers::String* v) { return v ? v->str() : std::string(); }

}  // namespace

TEST_CASE("an embeddings body maps onto the wire request and the embed input") {
  CallMetadata meta;
  meta.tenant = "t1";
  meta.request_id = "r-1";
  meta.timeout_ms = 1500;
  Built b = build(R"({"model":"emb","input":["a b","c"],"encoding_format":"base64","dimensions":4,
                      "user":"u","metadata":{"team":"blue"},"vendor_knob":true})",
                  meta);
  REQUIRE(b.ok);
  const wire::Request* r = b.call.request;
  CHECK(s(r->model()) == "emb");
  CHECK((!r->messages() || r->messages()->size() == 0));
  CHECK(r->timeout_ms() == 1500);
  CHECK(s(r->metadata()->tenant()) == "t1");
  CHECK(s(r->metadata()->user()) == "u");
  CHECK(s(r->metadata()->request_id()) == "r-1");
  REQUIRE(r->metadata()->tags()->size() == 1);
  REQUIRE(b.call.embed);
  CHECK(b.call.embed->inputs == std::vector<std::string>{"a b", "c"});
  CHECK(b.call.embed->dimensions == 4);
  CHECK(b.call.embed->extra_json == R"({"vendor_knob":true})");
  CHECK(b.call.base64);
  CHECK_FALSE(b.call.stream);
}

TEST_CASE("a single string input is one input, float is the default format, the route header wins") {
  CallMetadata meta;
  meta.route = "other";
  Built b = build(R"({"model":"emb","input":"hello"})", meta);
  REQUIRE(b.ok);
  CHECK(b.call.embed->inputs == std::vector<std::string>{"hello"});
  CHECK_FALSE(b.call.base64);
  CHECK(b.call.embed->dimensions == 0);
  CHECK(b.call.embed->extra_json.empty());
  CHECK(b.call.route == "other");
  CHECK(s(b.call.request->model()) == "emb");
  CHECK(b.call.model == "emb");
}

TEST_CASE("bad embeddings bodies are refused with the offending field") {
  struct Case {
    const char* body;
    const char* param;
  };
  for (const Case& c : {Case{R"({"input":"x"})", "model"}, Case{R"({"model":"m"})", "input"},
                        Case{R"({"model":"m","input":[]})", "input"}, Case{R"({"model":"m","input":[1,-2,3]})", "input"},
                        Case{R"({"model":"m","input":[1,2.5]})", "input"}, Case{R"({"model":"m","input":[2147483648]})", "input"},
                        Case{R"({"model":"m","input":[[1,2],[]]})", "input[1]"}, Case{R"({"model":"m","input":[[1],"a"]})", "input[1]"},
                        Case{R"({"model":"m","input":["a",[1]]})", "input[1]"}, Case{R"({"model":"m","input":[1,"a"]})", "input"},
                        Case{R"({"model":"m","input":[""]})", "input"},
                        Case{R"({"model":"m","input":["a",{}]})", "input[1]"}, Case{R"({"model":"m","input":7})", "input"},
                        Case{R"({"model":"m","input":"a","encoding_format":"int8"})", "encoding_format"},
                        Case{R"({"model":"m","input":"a","dimensions":0})", "dimensions"},
                        Case{R"({"model":"m","input":"a","dimensions":-3})", "dimensions"},
                        Case{R"({"model":"m","input":"a","dimensions":"8"})", "dimensions"},
                        Case{R"([1])", ""}, Case{R"({"model":)", ""}}) {
    INFO(c.body);
    Built b = build(c.body);
    CHECK_FALSE(b.ok);
    CHECK(b.error.param == c.param);
    CHECK_FALSE(b.error.message.empty());
  }
}

TEST_CASE("embedding vectors encode as little-endian float32 base64") {
  CHECK(embeddingBase64({}) == "");
  CHECK(embeddingBase64({1.0f}) == "AACAPw==");
  CHECK(embeddingBase64({1.0f, -2.0f}) == "AACAPwAAAMA=");
  CHECK(embeddingBase64({1.0f, -2.0f, 0.5f}) == "AACAPwAAAMAAAAA/");
}

TEST_CASE("the embeddings answer has OpenAI's list shape, as floats or base64") {
  Usage u;
  u.prompt_tokens = 3;
  std::vector<std::vector<float>> vecs = {{1.0f, -2.0f}, {0.5f}};
  for (bool b64 : {false, true}) {
    rapidjson::Document d;
    std::string body = embeddingsBody(vecs, b64, "mock-embed-1", u);
    d.Parse(body.c_str());
    REQUIRE_FALSE(d.HasParseError());
    CHECK(std::string(d["object"].GetString()) == "list");
    CHECK(std::string(d["model"].GetString()) == "mock-embed-1");
    CHECK(d["usage"]["prompt_tokens"].GetUint() == 3);
    CHECK(d["usage"]["total_tokens"].GetUint() == 3);
    REQUIRE(d["data"].Size() == 2);
    const auto& first = d["data"][0];
    CHECK(std::string(first["object"].GetString()) == "embedding");
    CHECK(first["index"].GetUint() == 0);
    CHECK(d["data"][1]["index"].GetUint() == 1);
    if (b64) {
      CHECK(std::string(first["embedding"].GetString()) == "AACAPwAAAMA=");
      CHECK(std::string(d["data"][1]["embedding"].GetString()) == "AAAAPw==");
    } else {
      REQUIRE(first["embedding"].Size() == 2);
      CHECK(first["embedding"][0].GetDouble() == 1.0);
      CHECK(first["embedding"][1].GetDouble() == -2.0);
    }
  }
}

TEST_CASE("token ids are inputs too: one array, or one array per input, kept as compact JSON") {
  Built one = build(R"({"model":"emb","input":[9906, 1917, 0, 2147483647]})");
  REQUIRE(one.ok);
  CHECK(one.call.embed->token_ids);
  CHECK(one.call.embed->inputs == std::vector<std::string>{"[9906,1917,0,2147483647]"});
  Built many = build(R"({"model":"emb","input":[[1,2],[3]]})");
  REQUIRE(many.ok);
  CHECK(many.call.embed->token_ids);
  CHECK(many.call.embed->inputs == std::vector<std::string>{"[1,2]", "[3]"});
  Built text = build(R"({"model":"emb","input":["[1,2]"]})");
  REQUIRE(text.ok);
  CHECK_FALSE(text.call.embed->token_ids);  // text that looks like ids is still text
}
