// plugin: a scorer from a shared library, through the scorer C ABI (outrigger/scorer_plugin.h).
// The library is opened RTLD_LOCAL (its symbols stay its own) and checked before anything of it
// runs: the entry symbol, the ABI major and minor, the table's size and its three functions.
#include <dlfcn.h>

#include <memory>

#include "eval/json_text.h"
#include "eval/scorer.h"
#include "outrigger/scorer_plugin.h"

namespace outrigger::eval {

namespace {

// One dlopen'ed library, closed when the last scorer using it is gone.
struct ScorerLibrary {
  void* handle = nullptr;
  const outrigger_scorer_plugin* table = nullptr;
  ~ScorerLibrary() {
    if (handle) ::dlclose(handle);
  }
};

void copyReason(outrigger_scorer_verdict* v, outrigger_str reason) noexcept {
  try {
    static_cast<std::string*>(v->host_data)->assign(reason.data ? reason.data : "", reason.size);
  } catch (...) {
    // Out of memory: the verdict goes without its reason.
  }
}

outrigger_str view(const std::string& s) { return {s.data(), s.size()}; }

std::string toolCallsJson(const std::vector<client::ToolCall>& calls) {
  rapidjson::Document doc(rapidjson::kArrayType);
  auto& a = doc.GetAllocator();
  for (const auto& t : calls) {
    rapidjson::Value call(rapidjson::kObjectType);
    call.AddMember("name", stringValue(t.name, a), a);
    call.AddMember("arguments", stringValue(t.arguments, a), a);
    doc.PushBack(call, a);
  }
  return toJson(doc);
}

class PluginScorer : public Scorer {
 public:
  PluginScorer(const ScorerConfig& cfg, std::shared_ptr<ScorerLibrary> library, void* state)
      : Scorer(cfg), library_(std::move(library)), state_(state) {}
  ~PluginScorer() override { library_->table->destroy(state_); }

  Score score(const EvalCase& c, const CaseOutput& out) const override {
    std::string tool_calls = toolCallsJson(out.tool_calls), reason;
    outrigger_scorer_case scored{OUTRIGGER_SCORER_HEADER_INIT(outrigger_scorer_case), view(c.id), view(c.line_json),
                                 view(out.content), view(c.expected), view(tool_calls), out.latency_ms, out.cost_usd};
    outrigger_scorer_verdict v{OUTRIGGER_SCORER_HEADER_INIT(outrigger_scorer_verdict), 0, 0, &reason, copyReason};
    int32_t rc = library_->table->score(state_, &scored, &v);
    if (rc != OUTRIGGER_SCORER_OK) {
      return failedToRun("plugin " + std::string(library_->table->name) + " could not score: " +
                         (reason.empty() ? "it returned " + std::to_string(rc) : reason));
    }
    return verdict(v.pass != 0, v.score, reason);
  }

 private:
  std::shared_ptr<ScorerLibrary> library_;
  void* state_;
};

std::string version(uint16_t major, uint16_t minor) { return std::to_string(major) + "." + std::to_string(minor); }

// Opens `path` and checks its table; nullptr with `error` naming what is wrong.
std::shared_ptr<ScorerLibrary> openLibrary(const std::string& path, std::string* error) {
  auto lib = std::make_shared<ScorerLibrary>();
  lib->handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib->handle) {
    const char* why = ::dlerror();
    *error = "cannot load " + path + ": " + (why ? why : "unknown error");
    return nullptr;
  }
  using Entry = const outrigger_scorer_plugin* (*)();
  auto entry = reinterpret_cast<Entry>(::dlsym(lib->handle, OUTRIGGER_SCORER_ENTRY_SYMBOL));
  if (!entry) {
    *error = path + " does not export " OUTRIGGER_SCORER_ENTRY_SYMBOL ": it is not a scorer plugin";
    return nullptr;
  }
  const outrigger_scorer_plugin* t = entry();
  std::string host = version(OUTRIGGER_SCORER_ABI_MAJOR, OUTRIGGER_SCORER_ABI_MINOR);
  if (!t) {
    *error = path + ": " OUTRIGGER_SCORER_ENTRY_SYMBOL " returned no table";
  } else if (t->hdr.abi_major != OUTRIGGER_SCORER_ABI_MAJOR || t->hdr.abi_minor > OUTRIGGER_SCORER_ABI_MINOR) {
    *error = path + " is built for scorer ABI " + version(t->hdr.abi_major, t->hdr.abi_minor) + "; this outrigger speaks " + host;
  } else if (t->hdr.struct_size < OUTRIGGER_SCORER_MIN_SIZE_PLUGIN) {
    *error = path + ": its scorer table is " + std::to_string(t->hdr.struct_size) + " bytes, less than the " +
             std::to_string(OUTRIGGER_SCORER_MIN_SIZE_PLUGIN) + " of ABI 1.0";
  } else if (!t->name || !t->create || !t->score || !t->destroy) {
    *error = path + ": its scorer table lacks a name, create, score or destroy";
  } else {
    lib->table = t;
    return lib;
  }
  return nullptr;
}

}  // namespace

std::unique_ptr<Scorer> makePluginScorer(const ScorerConfig& cfg, std::string* error) {
  if (cfg.type != "plugin") return nullptr;
  if (cfg.plugin_path.empty()) {
    *error = "scorer " + cfg.name + ": a plugin scorer needs a path";
    return nullptr;
  }
  auto library = openLibrary(cfg.plugin_path, error);
  if (!library) {
    *error = "scorer " + cfg.name + ": " + *error;
    return nullptr;
  }
  outrigger_error err{};
  void* state = nullptr;
  if (library->table->create(view(cfg.plugin_config), cfg.threshold, &state, &err) != OUTRIGGER_SCORER_OK) {
    err.message[sizeof err.message - 1] = '\0';
    *error = "scorer " + cfg.name + ": plugin " + library->table->name + " refused its config: " + err.message;
    return nullptr;
  }
  return std::make_unique<PluginScorer>(cfg, std::move(library), state);
}

}  // namespace outrigger::eval
