#include "http/embeddings_response.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <cstring>

#include "http/chat_response.h"

namespace outrigger::http {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(const uint8_t* p, size_t n) {
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = uint32_t{p[i]} << 16 | uint32_t{p[i + 1]} << 8 | p[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (size_t rest = n - i) {
    uint32_t v = uint32_t{p[i]} << 16 | (rest == 2 ? uint32_t{p[i + 1]} << 8 : 0);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

class EmbeddingsEncoder final : public ResponseEncoder {
 public:
  EmbeddingsEncoder(std::string_view model, bool base64) : model_(model), base64_(base64) {}

  std::string_view endpoint() const override { return "embeddings"; }
  void setHead(const AnswerHead& head) override {
    if (!head.model.empty()) model_ = std::string(head.model);
  }

  std::string unary(const ResponseEndInfo& end, std::string_view) override {
    static const std::vector<std::vector<float>> kNone;
    return embeddingsBody(end.embeddings ? *end.embeddings : kNone, base64_, model_, end.usage);
  }
  // Embeddings never stream; these are never asked for.
  std::string streamOpen() override { return {}; }
  std::string streamChunk(const ResponseChunkInfo&) override { return {}; }
  std::string streamClose(const ResponseEndInfo&) override { return {}; }
  std::string streamError(const ResponseEndInfo& end, const HttpError& e) override {
    return errorEvent(end.message, errorType(end, e), errorCode(end));
  }
  std::string errorBody(const ResponseEndInfo& end, const HttpError& e) override {
    return http::errorBody(end.message, errorType(end, e), "", errorCode(end));
  }

 private:
  std::string model_;
  bool base64_;
};

}  // namespace

std::string embeddingBase64(const std::vector<float>& v) {
  std::string bytes(v.size() * 4, '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &v[i], 4);
    for (int b = 0; b < 4; ++b) bytes[i * 4 + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  return base64(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

std::string embeddingsBody(const std::vector<std::vector<float>>& vectors, bool base64, std::string_view model,
                           const Usage& usage) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("object");
  w.String("list");
  w.Key("data");
  w.StartArray();
  for (size_t i = 0; i < vectors.size(); ++i) {
    w.StartObject();
    w.Key("object");
    w.String("embedding");
    w.Key("index");
    w.Uint64(i);
    w.Key("embedding");
    if (base64) {
      std::string b = embeddingBase64(vectors[i]);
      w.String(b.data(), static_cast<rapidjson::SizeType>(b.size()));
    } else {
      w.StartArray();
      for (float f : vectors[i]) w.Double(static_cast<double>(f));
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("model");
  w.String(model.data(), static_cast<rapidjson::SizeType>(model.size()));
  w.Key("usage");
  w.StartObject();
  w.Key("prompt_tokens");
  w.Uint(usage.prompt_tokens);
  w.Key("total_tokens");
  w.Uint(usage.prompt_tokens);
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::unique_ptr<ResponseEncoder> makeEmbeddingsEncoder(std::string_view model, bool base64) {
  return std::make_unique<EmbeddingsEncoder>(model, base64);
}

}  // namespace outrigger::http
