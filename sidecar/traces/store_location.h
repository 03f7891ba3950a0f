// Which trace store a config writes: the `path` of its first exporter.sqlite instance, or the
// default location when that instance names none. The CLI and the admin server read there.
#pragma once

#include <string>

#include "config/config.h"

namespace outrigger::traces {

// Empty when the config has no exporter.sqlite instance (or no default location exists).
std::string storePathOf(const config::Settings& settings);

}  // namespace outrigger::traces
