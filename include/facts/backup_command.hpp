#pragma once

namespace facts {

/**
 * Runs `factsd backup [--store sqlite:PATH] [--force] DEST`: a consistent copy of the database a
 * running factsd is writing (backup_sqlite), then one line on stdout saying what it holds.
 * `argv[0]` is "backup". Returns the exit code: 0 once DEST is complete and synced, 1 when the
 * backup failed (one line on stderr, DEST as it was), 2 for a bad flag.
 */
int run_backup_command(int argc, char const* const* argv);

}  // namespace facts
