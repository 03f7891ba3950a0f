#include "plugin/loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "common/log.h"
#include "plugin/schema.h"

namespace outrigger::plugin {
namespace {

std::string versionText(uint16_t major, uint16_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

std::string hostVersion() { return versionText(OUTRIGGER_ABI_MAJOR, OUTRIGGER_ABI_MINOR); }

// A table may be as small as its oldest layout (OUTRIGGER_MIN_SIZE_*: ABI 1.0, for the limiter
// kind 1.2), never smaller: tables only grow, and every slot added since is read behind
// OUTRIGGER_HAS_SLOT. Empty when it fits, else why not.
std::string checkTableSize(const char* what, const outrigger_header& h, size_t min_size) {
  if (h.struct_size >= min_size) return "";
  return std::string(what) + " too small (" + std::to_string(h.struct_size) + " bytes; its oldest layout is " +
         std::to_string(min_size) + ")";
}

size_t minHooksSize(outrigger_kind kind) {
  switch (kind) {
    case OUTRIGGER_KIND_PROVIDER: return OUTRIGGER_MIN_SIZE_PROVIDER_HOOKS;
    case OUTRIGGER_KIND_GUARDRAIL: return OUTRIGGER_MIN_SIZE_GUARDRAIL_HOOKS;
    case OUTRIGGER_KIND_CACHE: return OUTRIGGER_MIN_SIZE_CACHE_HOOKS;
    case OUTRIGGER_KIND_EXPORTER: return OUTRIGGER_MIN_SIZE_EXPORTER_HOOKS;
    case OUTRIGGER_KIND_LIMITER: return OUTRIGGER_MIN_SIZE_LIMITER_HOOKS;
  }
  return sizeof(outrigger_header);
}

// Checks the hook table of one type: present, sized, required slots set.
std::string checkHooks(const outrigger_plugin_type& t) {
  const auto* hdr = static_cast<const outrigger_header*>(t.hooks);
  if (!hdr) return "has no hook table";
  if (std::string err = checkTableSize("hook table", *hdr, minHooksSize(t.kind)); !err.empty()) return "has a " + err;
  switch (t.kind) {
    case OUTRIGGER_KIND_PROVIDER: {
      auto* h = static_cast<const outrigger_provider_hooks*>(t.hooks);
      if (!OUTRIGGER_HAS_SLOT(h, outrigger_provider_hooks, start) ||
          !OUTRIGGER_HAS_SLOT(h, outrigger_provider_hooks, cancel)) {
        return "provider hooks need start and cancel";
      }
      return "";
    }
    case OUTRIGGER_KIND_GUARDRAIL: {
      auto* h = static_cast<const outrigger_guardrail_hooks*>(t.hooks);
      if (!OUTRIGGER_HAS_SLOT(h, outrigger_guardrail_hooks, on_request) &&
          !OUTRIGGER_HAS_SLOT(h, outrigger_guardrail_hooks, on_chunk) &&
          !OUTRIGGER_HAS_SLOT(h, outrigger_guardrail_hooks, on_response)) {
        return "guardrail hooks need at least one of on_request, on_chunk, on_response";
      }
      return "";
    }
    case OUTRIGGER_KIND_CACHE: {
      auto* h = static_cast<const outrigger_cache_hooks*>(t.hooks);
      if (!OUTRIGGER_HAS_SLOT(h, outrigger_cache_hooks, lookup) ||
          !OUTRIGGER_HAS_SLOT(h, outrigger_cache_hooks, store)) {
        return "cache hooks need lookup and store";
      }
      return "";
    }
    case OUTRIGGER_KIND_EXPORTER: {
      auto* h = static_cast<const outrigger_exporter_hooks*>(t.hooks);
      if (!OUTRIGGER_HAS_SLOT(h, outrigger_exporter_hooks, export_record)) return "exporter hooks need export_record";
      return "";
    }
    case OUTRIGGER_KIND_LIMITER: {
      auto* h = static_cast<const outrigger_limiter_hooks*>(t.hooks);
      if (!OUTRIGGER_HAS_SLOT(h, outrigger_limiter_hooks, admit) || !OUTRIGGER_HAS_SLOT(h, outrigger_limiter_hooks, settle)) {
        return "limiter hooks need admit and settle";
      }
      return "";
    }
    default:
      return "has unknown kind " + std::to_string(t.kind);
  }
}

Expected<std::vector<std::shared_ptr<const PluginType>>> openAndIndex(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status(Code::kNotFound, path + ": no such plugin file");
  if (!S_ISREG(st.st_mode)) return Status(Code::kInvalidArgument, path + ": not a regular file");
  // dlopen runs a library's constructors before any check of ours: only load code that no other
  // user could have put there or changed.
  if (st.st_mode & S_IWOTH) {
    return Status(Code::kPermissionDenied, path + ": refusing a world-writable plugin file");
  }
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    return Status(Code::kPermissionDenied, path + ": refusing a plugin file owned by uid " + std::to_string(st.st_uid) +
                                               " (only root's or this process's user's are loaded)");
  }
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  struct stat dst;
  if (::stat(dir.c_str(), &dst) == 0 && (dst.st_mode & S_IWOTH)) {
    return Status(Code::kPermissionDenied, path + ": refusing a plugin in a world-writable directory (" + dir + ")");
  }
  void* lib = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!lib) return Status(Code::kInvalidArgument, path + ": dlopen failed: " + ::dlerror());
  using EntryFn = const outrigger_plugin_entry* (*)();
  auto fn = reinterpret_cast<EntryFn>(::dlsym(lib, OUTRIGGER_ENTRY_SYMBOL));
  if (!fn) {
    return Status(Code::kInvalidArgument, path + ": no " OUTRIGGER_ENTRY_SYMBOL
                                                 " symbol (not an Outrigger plugin, or built for another ABI major; host ABI " +
                                                 hostVersion() + ")");
  }
  const outrigger_plugin_entry* entry = fn();
  if (!entry) return Status(Code::kInvalidArgument, path + ": entry returned no table");
  const outrigger_header& h = entry->hdr;
  if (h.abi_major != OUTRIGGER_ABI_MAJOR) {
    return Status(Code::kFailedPrecondition, path + ": built for plugin ABI " + versionText(h.abi_major, h.abi_minor) +
                                                 ", host supports ABI " + hostVersion());
  }
  if (h.abi_minor > OUTRIGGER_ABI_MINOR) {
    return Status(Code::kFailedPrecondition, path + ": built for newer plugin ABI " +
                                                 versionText(h.abi_major, h.abi_minor) + ", host supports ABI " +
                                                 hostVersion() + "; upgrade the host");
  }
  if (std::string err = checkTableSize("entry table", h, OUTRIGGER_MIN_SIZE_PLUGIN_ENTRY); !err.empty()) {
    return Status(Code::kInvalidArgument, path + ": " + err);
  }
  // The count is the plugin's word for how far to read its array: a missing array or an absurd
  // count would have the loader read wild memory, and a reload that meets one must fail, not crash.
  constexpr size_t kMaxTypes = 256;
  if (entry->type_count == 0) return Status(Code::kInvalidArgument, path + ": entry table lists no types");
  if (!entry->types) {
    return Status(Code::kInvalidArgument,
                  path + ": entry table counts " + std::to_string(entry->type_count) + " types but has no array of them");
  }
  if (entry->type_count > kMaxTypes) {
    return Status(Code::kInvalidArgument, path + ": entry table counts " + std::to_string(entry->type_count) +
                                              " types (at most " + std::to_string(kMaxTypes) + ")");
  }
  std::vector<std::shared_ptr<const PluginType>> out;
  for (size_t i = 0; i < entry->type_count; ++i) {
    const outrigger_plugin_type* t = entry->types[i];
    std::string label = path + ": type #" + std::to_string(i);
    if (!t) return Status(Code::kInvalidArgument, label + ": no type table");
    if (t->hdr.abi_major != OUTRIGGER_ABI_MAJOR) {
      return Status(Code::kInvalidArgument, label + ": type table built for ABI major " + std::to_string(t->hdr.abi_major));
    }
    if (std::string err = checkTableSize("type table", t->hdr, OUTRIGGER_MIN_SIZE_PLUGIN_TYPE); !err.empty()) {
      return Status(Code::kInvalidArgument, label + ": " + err);
    }
    if (!t->create || !t->destroy) return Status(Code::kInvalidArgument, label + ": create and destroy are required");
    if (!t->name.data || !t->name.size) return Status(Code::kInvalidArgument, label + ": type has no name");
    auto p = std::make_shared<PluginType>();
    p->c_type = t;
    p->kind = t->kind;
    p->name.assign(t->name.data, t->name.size);
    label = path + ": type '" + p->name + "'";
    if (std::string err = checkHooks(*t); !err.empty()) return Status(Code::kInvalidArgument, label + " " + err);
    if (t->description.data) p->description.assign(t->description.data, t->description.size);
    if (t->config_schema_json.data) p->schema_json.assign(t->config_schema_json.data, t->config_schema_json.size);
    if (p->schema_json.empty()) p->schema_json = R"({"type":"object","additionalProperties":false})";
    auto schema = compileSchema(p->schema_json);
    if (!schema.ok()) return Status(Code::kInvalidArgument, label + ": " + schema.status().message());
    p->schema = schema.value();
    p->library.assign(entry->library.data ? entry->library.data : "", entry->library.size);
    p->version.assign(entry->version.data ? entry->version.data : "", entry->version.size);
    p->path = path;
    p->abi_major = h.abi_major;
    p->abi_minor = h.abi_minor;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

std::string_view kindName(outrigger_kind kind) {
  switch (kind) {
    case OUTRIGGER_KIND_PROVIDER: return "provider";
    case OUTRIGGER_KIND_GUARDRAIL: return "guardrail";
    case OUTRIGGER_KIND_CACHE: return "cache";
    case OUTRIGGER_KIND_EXPORTER: return "exporter";
    case OUTRIGGER_KIND_LIMITER: return "limiter";
  }
  return "unknown";
}

bool parseKind(std::string_view name, outrigger_kind* out) {
  for (outrigger_kind k : {OUTRIGGER_KIND_PROVIDER, OUTRIGGER_KIND_GUARDRAIL, OUTRIGGER_KIND_CACHE,
                           OUTRIGGER_KIND_EXPORTER, OUTRIGGER_KIND_LIMITER}) {
    if (kindName(k) == name) {
      *out = k;
      return true;
    }
  }
  return false;
}

std::string_view stabilityName(outrigger_stability s) {
  switch (s) {
    case OUTRIGGER_STABILITY_STABLE: return "stable";
    case OUTRIGGER_STABILITY_BETA: return "beta";
    default: return "experimental";
  }
}

namespace {

// Which file a path named when it was loaded: a library rebuilt in place is another file.
struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  int64_t mtime_ns = 0;
  off_t size = 0;
  bool operator==(const FileIdentity&) const = default;
};

FileIdentity identityOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return {};
  return {st.st_dev, st.st_ino, int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, st.st_size};
}

struct LoadedLibrary {
  std::vector<std::shared_ptr<const PluginType>> types;
  FileIdentity loaded_file, warned_about;
};

}  // namespace

Expected<std::vector<std::shared_ptr<const PluginType>>> loadLibrary(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, LoadedLibrary> loaded;
  char resolved[PATH_MAX];
  std::string key = ::realpath(path.c_str(), resolved) ? std::string(resolved) : path;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = loaded.find(key); it != loaded.end()) {
    // A loaded library is never unloaded (RTLD_NODELETE: its code may still run), so a rebuild
    // at the same path cannot take effect before a restart; say so rather than look reloaded.
    LoadedLibrary& lib = it->second;
    if (FileIdentity now = identityOf(key); !(now == lib.loaded_file) && !(now == lib.warned_about)) {
      lib.warned_about = now;
      logLine(LogLevel::kWarn, "plugins",
              key + " changed on disk since it was loaded; the running daemon keeps the code it loaded (a library is "
                    "never unloaded): restart it, or install the new build under a new file name");
    }
    return lib.types;
  }
  FileIdentity file = identityOf(key);
  auto types = openAndIndex(key);
  if (types.ok()) loaded[key] = {types.value(), file, file};
  return types;
}

Status PluginCatalog::addLibrary(const std::string& path) {
  auto types = loadLibrary(path);
  if (!types.ok()) return types.status();
  for (const auto& t : types.value()) {
    if (const PluginType* dup = find(t->kind, t->name)) {
      if (dup->path == t->path) continue;
      return Status(Code::kAlreadyExists, path + ": " + std::string(kindName(t->kind)) + " type '" + t->name +
                                              "' is already provided by " + dup->path);
    }
    types_.push_back(t);
  }
  return Status::ok();
}

Status PluginCatalog::addDirectory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return Status(Code::kNotFound, dir + ": cannot open plugin directory");
  std::vector<std::string> files;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.size() > 3 && name.compare(name.size() - 3, 3, ".so") == 0) files.push_back(dir + "/" + name);
  }
  ::closedir(d);
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    if (Status s = addLibrary(f); !s.isOk()) return s;
  }
  return Status::ok();
}

const PluginType* PluginCatalog::find(outrigger_kind kind, std::string_view name) const {
  for (const auto& t : types_) {
    if (t->kind == kind && t->name == name) return t.get();
  }
  return nullptr;
}

}  // namespace outrigger::plugin
