// What a crash names before the process dies. A fatal signal (a segfault, an abort) kills the
// daemon whatever we do, but an operator must learn what did it: a third party's plugin is the
// usual suspect, and a process that exits 139 with an empty log names nothing. The handler
// writes the signal, what the thread was doing when a CrashContext says (a plugin instance
// being created) and a backtrace, whose frames name each shared library (a plugin's .so) with an
// offset, to stderr; then the signal's default action runs (the core dump, the exit status).
// Thread: install once on the main thread; CrashContext on any thread.
#pragma once

namespace outrigger {

// Installs the handler for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT, and gives the calling
// thread an alternate signal stack. Idempotent.
void installCrashReport();

// Gives this thread an alternate signal stack (64 KiB, freed when the thread ends), so a stack
// overflow on it is reported too: the handler cannot run on the stack that overflowed. For every
// thread that runs plugin code. Idempotent per thread.
void reportStackOverflowsOnThisThread();

// While alive, a crash on this thread says `what` ("creating plugin instance 'x' ..."). `what`
// must outlive the context. Contexts nest; the innermost is named.
class CrashContext {
 public:
  explicit CrashContext(const char* what);
  ~CrashContext();
  CrashContext(const CrashContext&) = delete;
  CrashContext& operator=(const CrashContext&) = delete;

 private:
  const char* previous_;
};

}  // namespace outrigger
