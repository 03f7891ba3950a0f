// Loading a page in headless Chromium (Debian `chromium`) from a test: the DOM after the page's
// scripts ran, and optionally a screenshot.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "support/run_command.h"

namespace outrigger::testing {

// The browser to run: $CHROMIUM when set, else the first of the usual names on PATH; "" if none.
inline std::string chromiumPath() {
  if (const char* env = std::getenv("CHROMIUM"); env && *env) return ::access(env, X_OK) == 0 ? env : "";
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    for (const char* name : {"chromium", "chromium-browser"}) {
      std::string candidate = dir + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return "";
}

struct PageLoad {
  int status = -1;
  std::string dom;  // the serialized DOM
  std::string log;  // the browser's own output, for failure messages
};

// Loads `url` with a private profile under `work_dir`, letting the page run for `budget_ms` of
// virtual time (pending fetches hold that clock, so slow answers still arrive); writes a
// `width` x `height` screenshot to `screenshot` when it is not empty.
inline PageLoad loadPage(const std::string& url, const std::string& work_dir, int budget_ms,
                         const std::string& screenshot = "", int width = 1280, int height = 1200) {
  std::string dom_path = work_dir + "/dom.html", log_path = work_dir + "/chromium.log";
  std::string cmd = "(" + chromiumPath() + " --headless=new --no-sandbox --disable-gpu --no-first-run" +
                    " --user-data-dir=" + work_dir + "/profile --virtual-time-budget=" + std::to_string(budget_ms) +
                    " --window-size=" + std::to_string(width) + "," + std::to_string(height) +
                    (screenshot.empty() ? "" : " --screenshot=" + screenshot) + " --dump-dom '" + url + "' > " +
                    dom_path + " 2> " + log_path + ")";
  PageLoad load;
  load.status = runCommand(cmd).first;
  std::stringstream dom, log;
  dom << std::ifstream(dom_path).rdbuf();
  log << std::ifstream(log_path).rdbuf();
  load.dom = dom.str();
  load.log = log.str();
  return load;
}

}  // namespace outrigger::testing
