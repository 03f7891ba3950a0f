// The canonical JSON description of a wire frame (schemas/vectors/README.md), computed by
// walking the frame with FlatBuffers reflection, so it follows the schema with no hand-kept
// field list. Shared by the frame_describe tool and the vector tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace outrigger::testing {

// Loads the binary schema (outrigger.bfbs). Returns an error message, or "" on success.
std::string loadBinarySchema(const std::string& path);
// The binary schema path baked in at build time (or $OUTRIGGER_BFBS).
std::string defaultBinarySchemaPath();

// Describes one size-prefixed frame (8-byte aligned). Returns false and an error in `out`
// when the frame does not verify.
bool describeFrame(const uint8_t* data, size_t size, std::string* out);

}  // namespace outrigger::testing
