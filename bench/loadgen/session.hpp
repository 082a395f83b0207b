#pragma once

#include "options.hpp"

namespace loadgen {

/**
 * Runs one session against one server: optionally preloads facts, connects the streams (time
 * to connect all, RSS per stream when held idle), then a paced phase and a max-rate phase.
 * Prints a readable summary and one record line per case on stdout. Returns the exit code:
 * 0, or 1 when --check finds a fact missing, doubled or out of order, or a stream failed.
 */
int run_session(session_options const& options);

}  // namespace loadgen
