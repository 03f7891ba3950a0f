#include "alerts/webhook_payload.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdio>
#include <ctime>

namespace outrigger::alerts {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void str(Writer& w, const std::string& s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

void labels(Writer& w, const Labels& l) {
  w.StartObject();
  for (const auto& [k, v] : l) {
    str(w, k);
    str(w, v);
  }
  w.EndObject();
}

std::string figure(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

}  // namespace

std::string rfc3339(int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // room for any int fields, so the compiler sees no truncation
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, int(unix_ms % 1000));
  return buf;
}

std::string webhookPayload(const Notification& n, const std::string& external_url) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  const std::string status = n.resolved ? "resolved" : "firing";
  Labels group = {{"alertname", n.rule}};
  Labels annotations = {{"summary", n.summary}, {"value", figure(n.value)}, {"threshold", figure(n.threshold)}};
  w.StartObject();
  w.Key("version"), w.String("4");
  w.Key("groupKey"), str(w, "outrigger/" + n.rule + "/" + n.fingerprint);
  w.Key("truncatedAlerts"), w.Uint(0);
  w.Key("status"), str(w, status);
  w.Key("receiver"), w.String("outrigger");
  w.Key("groupLabels"), labels(w, group);
  w.Key("commonLabels"), labels(w, n.labels);
  w.Key("commonAnnotations"), labels(w, annotations);
  w.Key("externalURL"), str(w, external_url);
  w.Key("alerts");
  w.StartArray();
  w.StartObject();
  w.Key("status"), str(w, status);
  w.Key("labels"), labels(w, n.labels);
  w.Key("annotations"), labels(w, annotations);
  w.Key("startsAt"), str(w, rfc3339(n.starts_ms));
  // Alertmanager's zero time: a firing alert with no end in sight.
  w.Key("endsAt"), str(w, n.ends_ms ? rfc3339(n.ends_ms) : "0001-01-01T00:00:00Z");
  w.Key("generatorURL"), str(w, external_url);
  w.Key("fingerprint"), str(w, n.fingerprint);
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace outrigger::alerts
