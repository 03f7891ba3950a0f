#include "plugin/instance.h"

#include "plugin/schema.h"

namespace outrigger::plugin {

Expected<std::shared_ptr<PluginInstance>> PluginInstance::create(const PluginType& type,
                                                                const config::InstanceSettings& settings,
                                                                const outrigger_host_api& host_template) {
  if (Status s = validateConfig(*type.schema, settings.config_json, settings.lines); !s.isOk()) {
    return Status(Code::kInvalidArgument, "instance '" + settings.name + "' (" + settings.where + "): " + s.message());
  }
  std::shared_ptr<PluginInstance> inst(new PluginInstance(type, settings.name, settings.on_error));
  inst->api_ = host_template;
  inst->api_.host_ctx = inst.get();
  outrigger_error err{};
  void* handle = nullptr;
  outrigger_status rc = type.c_type->create(&inst->api_, {settings.name.data(), settings.name.size()},
                                            {settings.config_json.data(), settings.config_json.size()},
                                            &handle, &err);
  if (rc != OUTRIGGER_OK || !handle) {
    err.message[sizeof err.message - 1] = '\0';
    return Status(Code::kInvalidArgument, "instance '" + settings.name + "' (" + settings.where +
                                              "): create failed: " + (err.message[0] ? err.message : "no reason given"));
  }
  inst->handle_ = handle;
  return inst;
}

PluginInstance::~PluginInstance() {
  if (handle_) type_->c_type->destroy(handle_);
}

}  // namespace outrigger::plugin
