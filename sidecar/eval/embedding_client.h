// Embeddings through an OpenAI-compatible front (the sidecar's HTTP front: POST /v1/embeddings):
// the socket protocol has no embeddings call, the front runs the same chain's embeddings route.
// Thread-safety: embed() may run on many threads at once (one curl handle per call).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace outrigger::eval {

class EmbeddingClient {
 public:
  // Construct on the main thread, before any embed(): it initialises libcurl, which is not
  // thread-safe to do lazily.
  EmbeddingClient(std::string base_url, uint32_t timeout_ms);
  // One vector per input, from `route`; nullopt with `error` on any failure.
  std::optional<std::vector<std::vector<double>>> embed(const std::string& route, const std::vector<std::string>& inputs,
                                                        std::string* error) const;

 private:
  std::string base_url_;
  uint32_t timeout_ms_;
};

double cosineSimilarity(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace outrigger::eval
