#include "common/crash_report.h"

#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>

namespace outrigger {
namespace {

thread_local const char* t_context = nullptr;

// Only async-signal-safe calls from here on: write(2), no allocation, no stdio.
void say(const char* text) {
  size_t n = strlen(text);
  while (n > 0) {
    ssize_t w = ::write(STDERR_FILENO, text, n);
    if (w <= 0) return;
    text += w;
    n -= size_t(w);
  }
}

[[maybe_unused]] void onFatalSignal(int sig) {
  say("outrigger: fatal signal ");
  say(sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
  if (const char* what = t_context) {
    say(" while ");
    say(what);
  }
  say("; backtrace (a plugin's frames name its .so):\n");
  void* frames[64];
  int n = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
  // The default action, for the exit status and a core dump: the handler was installed with
  // SA_RESETHAND, so re-raising on return reaches it.
  ::raise(sig);
}

// A thread's alternate signal stack, taken down and freed as the thread ends.
class AltStack {
 public:
  AltStack() {
    size_t size = std::max<size_t>(SIGSTKSZ, 64 * 1024);
    memory_ = std::malloc(size);
    if (!memory_) return;
    stack_t ss{};
    ss.ss_sp = memory_;
    ss.ss_size = size;
    if (::sigaltstack(&ss, nullptr) != 0) {
      std::free(memory_);
      memory_ = nullptr;
    }
  }
  ~AltStack() {
    if (!memory_) return;
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    ::sigaltstack(&off, nullptr);
    std::free(memory_);
  }
  AltStack(const AltStack&) = delete;
  AltStack& operator=(const AltStack&) = delete;

 private:
  void* memory_ = nullptr;
};

}  // namespace

void reportStackOverflowsOnThisThread() {
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)  // they keep alternate stacks of their own
  thread_local AltStack stack;
  (void)stack;
#endif
}

void installCrashReport() {
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)  // their own reports say more
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  // backtrace() loads libgcc on first use, which allocates: do it now, not inside the handler.
  void* warm[1];
  ::backtrace(warm, 1);
  struct sigaction sa {};
  sa.sa_handler = onFatalSignal;
  // SA_ONSTACK: on a thread with an alternate stack (reportStackOverflowsOnThisThread), so an
  // overflow is reported; elsewhere the handler runs on the thread's own stack.
  sa.sa_flags = SA_RESETHAND | SA_NODEFER | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) ::sigaction(sig, &sa, nullptr);
  reportStackOverflowsOnThisThread();
#endif
}

CrashContext::CrashContext(const char* what) : previous_(t_context) { t_context = what; }

CrashContext::~CrashContext() { t_context = previous_; }

}  // namespace outrigger
