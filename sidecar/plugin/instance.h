// One created plugin instance: the C handle, its hook table and the host-API table the host
// gave it. Destroyed (through the plugin's destroy) when the last chain snapshot that uses it
// goes away: where that reference dropped, or on the instance's loop when it still has timers,
// watches or posts there (see instance_loop.h), after they made their final calls.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <outrigger/plugin.h>

#include "common/status.h"
#include "config/config.h"
#include "plugin/instance_loop.h"
#include "plugin/loader.h"

namespace outrigger::plugin {

class PluginInstance {
 public:
  // Validates the config against the type's schema, then calls create. `host_template` holds
  // the host functions; its host_ctx is replaced with this instance.
  static Expected<std::shared_ptr<PluginInstance>> create(const PluginType& type,
                                                         const config::InstanceSettings& settings,
                                                         const outrigger_host_api& host_template);
  ~PluginInstance();

  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  void* handle() const { return handle_; }
  const PluginType& type() const { return *type_; }
  outrigger_kind kind() const { return type_->kind; }
  const std::string& name() const { return name_; }
  config::OnError onError() const { return on_error_; }
  bool shared() const { return (type_->c_type->capabilities & OUTRIGGER_CAP_SHARED_INSTANCE) != 0; }
  bool embedsTokenIds() const { return (type_->c_type->capabilities & OUTRIGGER_CAP_EMBED_TOKEN_IDS) != 0; }

  const outrigger_provider_hooks* provider() const { return static_cast<const outrigger_provider_hooks*>(type_->c_type->hooks); }
  const outrigger_guardrail_hooks* guardrail() const { return static_cast<const outrigger_guardrail_hooks*>(type_->c_type->hooks); }
  const outrigger_cache_hooks* cache() const { return static_cast<const outrigger_cache_hooks*>(type_->c_type->hooks); }
  const outrigger_limiter_hooks* limiter() const { return static_cast<const outrigger_limiter_hooks*>(type_->c_type->hooks); }
  const outrigger_exporter_hooks* exporter() const { return static_cast<const outrigger_exporter_hooks*>(type_->c_type->hooks); }

  // The instance's own use of its worker's loop (ABI 1.2 instance_post, timers, fd watches).
  const std::shared_ptr<InstanceLoop>& instanceLoop() const { return loop_; }

  // "stage/instance" label for origins and logs is built by the chain; this is for counters.
  std::atomic<uint64_t> failures{0};

 private:
  PluginInstance(const PluginType& type, std::string name, config::OnError on_error)
      : type_(&type), name_(std::move(name)), on_error_(on_error) {}
  // The shared_ptr deleter: tears down here or queues the teardown to the instance's loop.
  static void release(PluginInstance* instance);

  const PluginType* type_;
  std::string name_;
  config::OnError on_error_;
  outrigger_host_api api_{};
  void* handle_ = nullptr;
  std::shared_ptr<InstanceLoop> loop_;
};

}  // namespace outrigger::plugin
