#include "plugin/instance.h"

#include "common/crash_report.h"
#include "plugin/schema.h"

namespace outrigger::plugin {

Expected<std::shared_ptr<PluginInstance>> PluginInstance::create(const PluginType& type,
                                                                const config::InstanceSettings& settings,
                                                                const outrigger_host_api& host_template) {
  if (Status s = validateConfig(*type.schema, settings.config_json, settings.lines); !s.isOk()) {
    return Status(Code::kInvalidArgument, "instance '" + settings.name + "' (" + settings.where + "): " + s.message());
  }
  std::shared_ptr<PluginInstance> inst(new PluginInstance(type, settings.name, settings.on_error),
                                      &PluginInstance::release);
  // Before create: a plugin may queue an instance_post there, to run once its loop is bound.
  // A per-worker instance is bound by its worker's engine, an exporter by the exporter thread.
  bool one_loop = !inst->shared();
  inst->loop_ = std::make_shared<InstanceLoop>(one_loop);
  inst->api_ = host_template;
  inst->api_.host_ctx = inst.get();
  outrigger_error err{};
  void* handle = nullptr;
  std::string doing = "creating plugin instance '" + settings.name + "' (" + settings.where + ", type " + type.name +
                      " from " + type.path + ")";
  CrashContext crash(doing.c_str());  // a plugin that crashes in create is named, not just the signal
  outrigger_status rc = type.c_type->create(&inst->api_, {settings.name.data(), settings.name.size()},
                                            {settings.config_json.data(), settings.config_json.size()},
                                            &handle, &err);
  if (rc != OUTRIGGER_OK || !handle) {
    err.message[sizeof err.message - 1] = '\0';
    std::string why = err.message[0] ? std::string(err.message)
                      : rc == OUTRIGGER_OK ? "create returned OK without an instance"
                                           : "create returned status " + std::to_string(rc) + " without a reason";
    return Status(Code::kInvalidArgument, "instance '" + settings.name + "' (" + settings.where +
                                              "): create failed: " + why);
  }
  inst->handle_ = handle;
  return inst;
}

void PluginInstance::release(PluginInstance* instance) {
  std::shared_ptr<InstanceLoop> loop = instance->loop_;
  if (loop && loop->deferTeardown([instance] { delete instance; })) return;
  delete instance;
}

PluginInstance::~PluginInstance() {
  // Every timer, watch and early post makes its final call before the plugin is destroyed.
  if (loop_) loop_->retire();
  if (handle_) type_->c_type->destroy(handle_);
}

}  // namespace outrigger::plugin
