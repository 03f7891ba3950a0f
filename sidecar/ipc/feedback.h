// Feedback frames: a score for an earlier answer, keyed by the trace id that answer carried
// (ResponseStart/ResponseEnd trace_id). Feedback arrives on a stream of its own (stream ids only
// increase on a connection, so it can never reuse its request's), possibly from another
// connection or process long after the answer; the trace id in the frame is therefore the key,
// and the daemon does not check that it served the trace (it keeps no table of past traces).
#pragma once

#include <memory>
#include <string>

#include "telemetry/request_record.h"

namespace outrigger::wire { struct Feedback; }

namespace outrigger::ipc {

// The record exporters get for a verified Feedback (checkFeedbackStrings passed). `tenant`, when
// given, replaces the tenant it names (the socket's peer rules decided it). Its chain is unset.
std::shared_ptr<telemetry::FeedbackRecord> feedbackRecordOf(const wire::Feedback& feedback, const std::string* tenant);

}  // namespace outrigger::ipc
