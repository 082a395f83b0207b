#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace loadgen {

/**
 * Prints, from the record lines of a benchmark run, one markdown table per run table (pinned:
 * every peer with factsd on 1 thread; unpinned: factsd on 2 threads against its 1-thread
 * figures), with the ratios factsd/peer for events/s, p99 latency and memory per stream, then
 * the targets, each with its figures and whether it was met. Returns 0.
 */
int print_tables(std::vector<std::string> const& record_files, std::ostream& out);

}  // namespace loadgen
