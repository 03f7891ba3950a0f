// Free loopback ports for test servers that are stopped and started again on the same port
// (a collector or Redis killed mid-run). They are picked below the kernel's ephemeral range, so
// no client's outgoing connection can take one while its server is down: a connection to a
// port nobody listens on in that range may even get it as its own source port and connect to
// itself, after which the server cannot bind it.
#pragma once

#include <cstddef>
#include <vector>

namespace outrigger::testing {

// `n` distinct ports, each free on 127.0.0.1 when chosen (every socket stays bound until all are
// chosen). Falls back to ports the kernel picks when none below the range is free.
std::vector<int> stablePorts(size_t n);

}  // namespace outrigger::testing
