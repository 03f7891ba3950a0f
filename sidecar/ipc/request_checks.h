// Checks the socket front makes on a verified Request before the chain sees it.
#pragma once

#include "common/status.h"
#include "common/utf8.h"

namespace outrigger::wire { struct Request; }

namespace outrigger::ipc {

// The model and every metadata string (tenant, user, session, ids, traceparent, tags) must be
// well-formed UTF-8: they reach logs, records and provider bodies as JSON text. INVALID_ARGUMENT
// names the first bad field.
Status checkRequestStrings(const wire::Request& request);

}  // namespace outrigger::ipc
