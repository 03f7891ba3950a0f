// Cassettes: recorded upstream exchanges (see cassette.h).
#include "cassette.h"

#include <openssl/evp.h>
#include <re2/re2.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "bounded_json.h"

namespace outrigger::providers {

const char kCassetteSchema[] = R"json({
  "type": "object",
  "additionalProperties": false,
  "required": ["mode"],
  "properties": {
    "mode": {"enum": ["replay", "record", "replay_or_record", "passthrough"], "description": "replay only (a miss is an error), record every call, replay what is recorded and record the rest, or neither"},
    "path": {"type": "string", "pattern": "^/", "description": "absolute path of the cassette (JSONL)"},
    "latency": {"type": "boolean", "description": "replay at the recorded pace (default false: at once)"},
    "ignore_fields": {"type": "array", "items": {"type": "string"}, "description": "request fields left out of the key (default user, metadata)"},
    "redact": {"type": "array", "items": {"type": "string"}, "description": "RE2 patterns replaced in the stored request text"}
  }
})json";

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
using CheckedWriter = rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>,
                                        rapidjson::CrtAllocator, rapidjson::kWriteValidateEncodingFlag>;

// The value with every object's members in name order.
void writeSorted(const rapidjson::Value& v, Writer& w) {
  if (v.IsObject()) {
    std::vector<const rapidjson::Value::Member*> members;
    for (const auto& m : v.GetObject()) members.push_back(&m);
    std::sort(members.begin(), members.end(), [](auto* a, auto* b) {
      return std::string_view(a->name.GetString(), a->name.GetStringLength()) <
             std::string_view(b->name.GetString(), b->name.GetStringLength());
    });
    w.StartObject();
    for (const auto* m : members) {
      w.Key(m->name.GetString(), m->name.GetStringLength());
      writeSorted(m->value, w);
    }
    w.EndObject();
  } else if (v.IsArray()) {
    w.StartArray();
    for (const auto& e : v.GetArray()) writeSorted(e, w);
    w.EndArray();
  } else {
    v.Accept(w);
  }
}

std::string hex128(XXH128_hash_t h) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return buf;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(bytes.data()),
                          int(bytes.size()));
  out.resize(size_t(n));
  return out;
}

bool unbase64(std::string_view text, std::string* out) {
  if (text.size() % 4) return false;
  out->assign(3 * (text.size() / 4) + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out->data()), reinterpret_cast<const unsigned char*>(text.data()),
                          int(text.size()));
  if (n < 0) return false;
  size_t pad = text.size() >= 2 ? (text[text.size() - 1] == '=') + (text[text.size() - 2] == '=') : 0;
  out->resize(size_t(n) - pad);
  return true;
}

// Bytes cut by the transport may split a UTF-8 sequence: those pieces are kept as base64.
bool validUtf8(std::string_view bytes) {
  rapidjson::StringBuffer buf;
  CheckedWriter w(buf);
  return w.String(bytes.data(), rapidjson::SizeType(bytes.size()));
}

std::string encodeExchange(const RecordedExchange& e) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("key");
  w.String(e.key.c_str());
  w.Key("path");
  w.String(e.path.c_str());
  w.Key("request");
  w.String(e.request.data(), rapidjson::SizeType(e.request.size()));
  w.Key("status");
  w.Int(e.status);
  w.Key("headers");
  w.StartArray();
  for (const auto& [n, v] : e.headers) {
    w.StartArray();
    w.String(n.c_str());
    w.String(v.c_str());
    w.EndArray();
  }
  w.EndArray();
  w.Key("pieces");
  w.StartArray();
  for (const auto& p : e.pieces) {
    w.StartObject();
    w.Key("ms");
    w.Uint(p.at_ms);
    if (validUtf8(p.bytes)) {
      w.Key("text");
      w.String(p.bytes.data(), rapidjson::SizeType(p.bytes.size()));
    } else {
      w.Key("base64");
      w.String(base64(p.bytes).c_str());
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("ms");
  w.Uint(e.total_ms);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string text(const rapidjson::Value& o, const char* k) {
  auto it = o.FindMember(k);
  return it != o.MemberEnd() && it->value.IsString() ? std::string(it->value.GetString(), it->value.GetStringLength())
                                                    : std::string();
}

bool decodeExchange(std::string_view line, RecordedExchange* e) {
  rapidjson::Document d;
  if (!outrigger::json::parse(line, &d) || !d.IsObject()) return false;
  e->key = text(d, "key");
  e->path = text(d, "path");
  e->request = text(d, "request");
  if (e->key.empty() || !d.HasMember("status") || !d["status"].IsInt() || !d.HasMember("pieces") || !d["pieces"].IsArray()) {
    return false;
  }
  e->status = d["status"].GetInt();
  if (d.HasMember("ms") && d["ms"].IsUint()) e->total_ms = d["ms"].GetUint();
  if (d.HasMember("headers") && d["headers"].IsArray()) {
    for (const auto& h : d["headers"].GetArray()) {
      if (h.IsArray() && h.Size() == 2 && h[0].IsString() && h[1].IsString()) e->headers.emplace_back(h[0].GetString(), h[1].GetString());
    }
  }
  for (const auto& p : d["pieces"].GetArray()) {
    if (!p.IsObject()) return false;
    RecordedPiece piece;
    if (p.HasMember("ms") && p["ms"].IsUint()) piece.at_ms = p["ms"].GetUint();
    if (p.HasMember("text") && p["text"].IsString()) piece.bytes.assign(p["text"].GetString(), p["text"].GetStringLength());
    else if (!p.HasMember("base64") || !p["base64"].IsString() || !unbase64(p["base64"].GetString(), &piece.bytes)) return false;
    e->pieces.push_back(std::move(piece));
  }
  return true;
}

// Where two JSON values differ: the first pointer, and how many leaves differ in all.
void compare(const rapidjson::Value& a, const rapidjson::Value& b, const std::string& at, std::string* first,
             const rapidjson::Value** first_a, const rapidjson::Value** first_b, int* count) {
  auto differ = [&] {
    if (first->empty()) {
      *first = at.empty() ? "/" : at;
      *first_a = &a;
      *first_b = &b;
    }
    ++*count;
  };
  if (a.IsObject() && b.IsObject()) {
    std::map<std::string_view, const rapidjson::Value*> bs;
    for (const auto& m : b.GetObject()) bs[std::string_view(m.name.GetString(), m.name.GetStringLength())] = &m.value;
    for (const auto& m : a.GetObject()) {
      std::string_view name(m.name.GetString(), m.name.GetStringLength());
      auto it = bs.find(name);
      std::string next = at + "/" + std::string(name);
      if (it == bs.end()) {
        if (first->empty()) *first = next, *first_a = &m.value, *first_b = nullptr;
        ++*count;
        continue;
      }
      compare(m.value, *it->second, next, first, first_a, first_b, count);
      bs.erase(it);
    }
    for (const auto& [name, v] : bs) {
      if (first->empty()) *first = at + "/" + std::string(name), *first_a = nullptr, *first_b = v;
      ++*count;
    }
  } else if (a.IsArray() && b.IsArray()) {
    rapidjson::SizeType n = std::max(a.Size(), b.Size());
    for (rapidjson::SizeType i = 0; i < n; ++i) {
      if (i >= a.Size() || i >= b.Size()) {
        differ();
        continue;
      }
      compare(a[i], b[i], at + "/" + std::to_string(i), first, first_a, first_b, count);
    }
  } else if (a != b) {
    differ();
  }
}

std::string shown(const rapidjson::Value* v) {
  if (!v) return "(absent)";
  rapidjson::StringBuffer buf;
  Writer w(buf);
  v->Accept(w);
  std::string s(buf.GetString(), buf.GetSize());
  return s.size() > 120 ? s.substr(0, 117) + "..." : s;
}

// The first line of a file `record` began: which process began it (pid and start time, so a
// pid used again is another session). Loading skips it.
constexpr std::string_view kSessionPrefix = "{\"session\":";

const std::string& sessionLine() {
  static const std::string line = [] {
    std::string start = "0";
    std::ifstream stat("/proc/self/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // Field 22, starttime, counted after the command name's closing parenthesis.
    std::istringstream rest(text.substr(text.rfind(')') == std::string::npos ? 0 : text.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 22 && rest >> field; ++i) {
      if (i == 22) start = field;
    }
    return std::string(kSessionPrefix) + "\"" + std::to_string(::getpid()) + "." + start + "\"}\n";
  }();
  return line;
}

std::mutex g_tapes_mu;
std::map<std::string, std::weak_ptr<Cassette>> g_tapes;

}  // namespace

Cassette::Cassette(std::string path, bool must_exist, bool fresh) : path_(std::move(path)), fresh_pending_(fresh) {
  if (fresh) return;  // recording again: nothing of the file is replayed
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    if (must_exist) throw std::runtime_error("cassette " + path_ + " cannot be read (replay needs a recording)");
    return;
  }
  std::stringstream whole;
  whole << in.rdbuf();
  const std::string text = whole.str();
  size_t n = 1;
  for (size_t start = 0; start < text.size(); ++n) {
    size_t end = text.find('\n', start);
    bool cut = end == std::string::npos;  // no newline: the last line, maybe cut by a crash
    std::string_view line = std::string_view(text).substr(start, (cut ? text.size() : end) - start);
    start = cut ? text.size() : end + 1;
    if (line.empty() || line.rfind(kSessionPrefix, 0) == 0) continue;
    auto e = std::make_shared<RecordedExchange>();
    if (!decodeExchange(std::string(line), e.get())) {
      if (cut) {  // an append the writer never finished: not a recording
        ends_mid_line_ = true;
        break;
      }
      throw std::runtime_error("cassette " + path_ + ":" + std::to_string(n) + ": not a recorded exchange");
    }
    ends_mid_line_ = cut;
    by_key_[e->key].recorded.push_back(e);
    exchanges_.push_back(std::move(e));
  }
}

std::shared_ptr<const RecordedExchange> Cassette::take(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return nullptr;
  Takes& t = it->second;
  size_t i = std::min(t.next, t.recorded.size() - 1);
  ++t.next;
  return t.recorded[i];
}

size_t Cassette::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return exchanges_.size();
}

bool Cassette::append(std::shared_ptr<const RecordedExchange> e) {
  const std::string record = encodeExchange(*e) + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  // One write under an exclusive lock: another process (or another provider plugin, with its
  // own copy of this code) appending to the file waits for the whole line.
  bool ok = ::flock(fd, LOCK_EX) == 0;
  std::string line = ends_mid_line_ ? "\n" + record : record;  // after a line cut short, its own
  if (ok && fresh_pending_) {
    // Recording again empties the file, once: its first line names the process that began it,
    // and another provider plugin of this process (with its own copy of this code) may have
    // begun it already; what that one recorded stays.
    const std::string& session = sessionLine();
    std::string head(session.size(), '\0');
    bool ours = ::pread(fd, head.data(), head.size(), 0) == ssize_t(head.size()) && head == session;
    if (!ours) {
      ok = ::ftruncate(fd, 0) == 0;
      line = session + record;
    }
    fresh_pending_ = !ok;
  }
  size_t done = 0;
  while (ok && done < line.size()) {
    ssize_t w = ::write(fd, line.data() + done, line.size() - done);
    if (w < 0 && errno == EINTR) continue;
    ok = w > 0;
    if (ok) done += size_t(w);
  }
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    if (done > 0) ends_mid_line_ = true;  // part of the line went out: the next starts its own
    return false;
  }
  ends_mid_line_ = false;
  Takes& t = by_key_[e->key];
  t.recorded.push_back(e);
  t.next = t.recorded.size();  // recorded now, so not to be replayed again in this run
  exchanges_.push_back(std::move(e));
  return true;
}

std::string Cassette::explainMiss(std::string_view path, const std::string& canonical, std::string* values) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string head = "no recording for this request in cassette " + path_ + " (" + std::to_string(exchanges_.size()) + " recorded)";
  rapidjson::Document asked;
  if (!outrigger::json::parse(canonical, &asked)) return head;
  int best = -1;
  std::string best_at, best_recorded, best_asked;
  for (const auto& e : exchanges_) {
    if (e->path != path) continue;
    rapidjson::Document recorded;
    if (!outrigger::json::parse(e->request, &recorded)) continue;
    std::string first;
    const rapidjson::Value *a = nullptr, *b = nullptr;
    int count = 0;
    compare(recorded, asked, "", &first, &a, &b, &count);
    if (best < 0 || count < best) {
      best = count;
      best_at = first;
      best_recorded = shown(a);
      best_asked = shown(b);
    }
  }
  if (best < 0) return head + "; none on " + std::string(path);
  *values = "recorded " + best_recorded + ", asked " + best_asked;
  return head + "; the nearest differs in " + std::to_string(best) + " place(s), first at " + best_at;
}

CassetteSettings readCassetteSettings(const rapidjson::Value& config) {
  CassetteSettings s;
  auto it = config.FindMember("cassette");
  if (it == config.MemberEnd() || !it->value.IsObject()) return s;
  const rapidjson::Value& c = it->value;
  std::string mode = text(c, "mode");
  if (mode == "replay") s.mode = CassetteSettings::Mode::kReplay;
  else if (mode == "record") s.mode = CassetteSettings::Mode::kRecord;
  else if (mode == "replay_or_record") s.mode = CassetteSettings::Mode::kReplayOrRecord;
  else s.mode = CassetteSettings::Mode::kPassthrough;
  if (c.HasMember("latency") && c["latency"].IsBool()) s.latency = c["latency"].GetBool();
  if (c.HasMember("ignore_fields") && c["ignore_fields"].IsArray()) {
    s.ignore_fields.clear();
    for (const auto& f : c["ignore_fields"].GetArray()) s.ignore_fields.emplace_back(f.GetString());
  }
  if (c.HasMember("redact") && c["redact"].IsArray()) {
    for (const auto& r : c["redact"].GetArray()) {
      RE2 re(r.GetString(), RE2::Quiet);
      if (!re.ok()) throw std::runtime_error("cassette.redact: " + re.error());
      s.redact.emplace_back(r.GetString());
    }
  }
  if (s.mode == CassetteSettings::Mode::kPassthrough) return s;
  std::string path = text(c, "path");
  if (path.empty()) throw std::runtime_error("cassette.path is required with mode " + mode);
  std::lock_guard<std::mutex> lock(g_tapes_mu);
  std::shared_ptr<Cassette> tape = g_tapes[path].lock();
  if (!tape) {
    // `record` records the session again: the file starts empty, once a process (a reload keeps
    // what this run recorded), so a replay serves the new recordings, not ones from before.
    static std::set<std::string> started_fresh;
    bool fresh = s.mode == CassetteSettings::Mode::kRecord && started_fresh.insert(path).second;
    tape = std::make_shared<Cassette>(path, s.mode == CassetteSettings::Mode::kReplay, fresh);
    g_tapes[path] = tape;
  }
  s.tape = std::move(tape);
  return s;
}

CanonicalRequest canonicalRequest(std::string_view path, std::string_view body, const CassetteSettings& s) {
  CanonicalRequest out;
  rapidjson::Document d;
  if (outrigger::json::parse(body, &d)) {
    if (d.IsObject()) {
      for (const auto& f : s.ignore_fields) d.RemoveMember(f.c_str());
    }
    rapidjson::StringBuffer buf;
    Writer w(buf);
    writeSorted(d, w);
    out.text.assign(buf.GetString(), buf.GetSize());
  } else {
    out.text.assign(body);
  }
  std::string keyed(path);
  keyed += '\n';
  keyed += out.text;
  out.key = hex128(XXH3_128bits(keyed.data(), keyed.size()));
  return out;
}

std::string redactedRequest(const std::string& canonical, const CassetteSettings& s) {
  std::string out = canonical;
  for (const auto& pattern : s.redact) {
    RE2 re(pattern, RE2::Quiet);
    RE2::GlobalReplace(&out, re, "<redacted>");
  }
  return out;
}

}  // namespace outrigger::providers
