// The host-API table every plugin instance receives (outrigger_host_api). Completions find the
// request by its {slot, generation} handle on the calling worker and are refused with
// OUTRIGGER_E_WRONG_THREAD from any other thread, OUTRIGGER_E_STALE once the request ended.
#pragma once

#include <outrigger/plugin.h>

namespace outrigger::chain {

const outrigger_host_api& hostApiTemplate();

}  // namespace outrigger::chain
