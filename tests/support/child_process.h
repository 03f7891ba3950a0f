// The processes tests and benchmarks start (daemons, fake upstreams, Redis, the collector) end
// with the process that started them. Without this, a test CTest kills at its timeout, or a
// benchmark stopped with Ctrl-C, leaves its children running, and on a two-core machine they
// slow every test after it.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace outrigger::testing {

// Call in the child between fork and exec, with the parent's pid read before the fork. The
// signal survives exec (not into a setuid binary). It fires when the thread that forked ends,
// so fork from a thread that lives as long as the child should.
inline void endWithParent(pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);  // the parent was gone before the signal was set
}

}  // namespace outrigger::testing
