// The C views exporters read (outrigger_record_view, outrigger_feedback_view) over a record, and
// the arrays behind them. A view is valid while it and its record live; neither moves.
#pragma once

#include <vector>

#include <outrigger/plugin.h>

#include "telemetry/request_record.h"

namespace outrigger::telemetry {

class RecordView {
 public:
  explicit RecordView(const RequestRecord& record);
  RecordView(const RecordView&) = delete;
  RecordView& operator=(const RecordView&) = delete;

  const outrigger_record_view* get() const { return &view_; }

 private:
  void addTrace(const RequestRecord& r);
  void addContent(const RequestRecord& r);

  std::vector<outrigger_tag_view> tags_;
  outrigger_metadata_view metadata_{};
  std::vector<outrigger_span_view> spans_;
  std::vector<outrigger_span_trace_view> traces_;
  std::vector<outrigger_attribute> attributes_;  // every span's, in span order
  std::vector<outrigger_verdict_view> verdicts_;
  std::vector<outrigger_tool_call_view> answer_calls_;
  outrigger_record_view view_{};
};

class FeedbackView {
 public:
  explicit FeedbackView(const FeedbackRecord& feedback);
  FeedbackView(const FeedbackView&) = delete;
  FeedbackView& operator=(const FeedbackView&) = delete;

  const outrigger_feedback_view* get() const { return &view_; }

 private:
  std::vector<outrigger_tag_view> tags_;
  outrigger_metadata_view metadata_{};
  outrigger_feedback_view view_{};
};

}  // namespace outrigger::telemetry
