// A SentencePiece model built from a Hugging Face `tokenizers` BPE description (tokenizer.json),
// so the one tokenizer library the daemon links (libsentencepiece) encodes exactly as the
// Python `tokenizers` library does for Llama-style vocabularies: byte fallback, a "▁" prefix,
// spaces escaped to "▁", no other normalisation.
#pragma once

#include <rapidjson/document.h>

#include <string>

namespace outrigger::wordllama {

// The serialized ModelProto (sentencepiece_model.proto) for `tokenizer_json`, or empty with
// `*error` set when the description is not a byte-fallback BPE model this can represent. Merge
// priority follows the description's merge list (an earlier merge first).
std::string sentencePieceModelFrom(const rapidjson::Document& tokenizer_json, std::string* error);

}  // namespace outrigger::wordllama
