// Benchmarks that compare chains: one daemon per variant of a config, each on its own socket,
// driven in alternating rounds of the same closed-loop load, then a table of medians and what
// each variant adds over the first (the baseline) measured in the same rounds.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "load_driver.h"

namespace outrigger::bench {

struct ChainVariant {
  ChainVariant(std::string name_, std::string config_, std::string bin_ = OUTRIGGER_BIN)
      : name(std::move(name_)), config(std::move(config_)), bin(std::move(bin_)) {}
  std::string name;
  std::string config;  // the whole config text
  std::string bin;  // the daemon: this build's, or another's to compare with
  std::string socket;
  pid_t pid = -1;
  std::vector<Result> results;
};

// Starts a daemon (1 worker) for each variant under `dir`; false (with a message naming `bench`)
// when one does not start.
bool startVariants(std::vector<ChainVariant>& variants, const std::string& dir, const char* bench);
// `rounds` rounds, each driving every variant in turn.
void runRounds(std::vector<ChainVariant>& variants, int rounds, int connections, const LoadOptions& opt);

// The table's last column: what a variant adds to p99 latency, or to CPU per request.
enum class AddedColumn { kP99, kCpu };
// Prints the medians, stops the daemons; true when no request failed.
bool reportVariants(std::vector<ChainVariant>& variants, int name_width, AddedColumn last);

}  // namespace outrigger::bench
