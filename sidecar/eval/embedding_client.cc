#include "eval/embedding_client.h"

#include <curl/curl.h>

#include <cmath>

#include "bounded_json.h"
#include "eval/json_text.h"

namespace outrigger::eval {

namespace {

constexpr size_t kMaxReplyBytes = 64u << 20;

size_t collect(char* data, size_t size, size_t n, void* into) {
  auto* body = static_cast<std::string*>(into);
  if (body->size() + size * n > kMaxReplyBytes) return 0;  // ends the transfer with an error
  body->append(data, size * n);
  return size * n;
}

std::string requestBody(const std::string& route, const std::vector<std::string>& inputs) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  doc.AddMember("model", stringValue(route, a), a);
  rapidjson::Value list(rapidjson::kArrayType);
  for (const auto& s : inputs) list.PushBack(stringValue(s, a), a);
  doc.AddMember("input", list, a);
  return toJson(doc);
}

}  // namespace

EmbeddingClient::EmbeddingClient(std::string base_url, uint32_t timeout_ms)
    : base_url_(std::move(base_url)), timeout_ms_(timeout_ms) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

double cosineSimilarity(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.empty()) return 0;
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) dot += a[i] * b[i], na += a[i] * a[i], nb += b[i] * b[i];
  return na == 0 || nb == 0 ? 0 : dot / (std::sqrt(na) * std::sqrt(nb));
}

std::optional<std::vector<std::vector<double>>> EmbeddingClient::embed(const std::string& route,
                                                                      const std::vector<std::string>& inputs,
                                                                      std::string* error) const {
  CURL* curl = curl_easy_init();
  std::string body = requestBody(route, inputs), reply, url = base_url_ + "/v1/embeddings";
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms_));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK || status != 200) {
    *error = "embeddings from " + url + " failed: " + (rc != CURLE_OK ? curl_easy_strerror(rc) : "HTTP " + std::to_string(status) + " " + reply.substr(0, 200));
    return std::nullopt;
  }
  rapidjson::Document doc;
  if (!json::parse(reply, &doc) || !doc.IsObject() || !doc.HasMember("data") || !doc["data"].IsArray() ||
      doc["data"].Size() != inputs.size()) {
    *error = "embeddings from " + url + ": an answer without one vector per input";
    return std::nullopt;
  }
  std::vector<std::vector<double>> vectors(inputs.size());
  for (const auto& item : doc["data"].GetArray()) {
    size_t index = item.HasMember("index") && item["index"].IsUint() ? item["index"].GetUint() : 0;
    if (index >= vectors.size() || !item.HasMember("embedding") || !item["embedding"].IsArray()) continue;
    for (const auto& x : item["embedding"].GetArray()) vectors[index].push_back(x.IsNumber() ? x.GetDouble() : 0);
  }
  return vectors;
}

}  // namespace outrigger::eval
