// OpenAI-shaped embeddings answers: {"object":"list","data":[{"object":"embedding","index",
// "embedding"}...],"model","usage"}, with each vector as JSON numbers or, for
// encoding_format "base64", as its little-endian float32 bytes in standard base64.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/response_sink.h"
#include "http/response_encoder.h"

namespace outrigger::http {

// The little-endian IEEE-754 float32 bytes of `v`, base64 (RFC 4648, padded).
std::string embeddingBase64(const std::vector<float>& v);

// The whole answer body.
std::string embeddingsBody(const std::vector<std::vector<float>>& vectors, bool base64, std::string_view model,
                           const Usage& usage);

// The encoder ChatExchange uses for POST /v1/embeddings (unary only; errors in OpenAI's shape).
std::unique_ptr<ResponseEncoder> makeEmbeddingsEncoder(std::string_view model, bool base64);

}  // namespace outrigger::http
