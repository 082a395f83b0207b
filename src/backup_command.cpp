#include "facts/backup_command.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "facts/config.hpp"
#include "facts/store/fact_store.hpp"
#include "facts/store/sqlite_backup.hpp"
#include "facts/store/sqlite_store.hpp"

namespace facts {

int run_backup_command(int argc, char const* const* argv) {
  std::string store = default_store_url();
  std::string dest;
  bool force = false;
  CLI::App app{
      "factsd backup: writes a consistent copy of a sqlite: store while factsd keeps serving "
      "and committing, to a temporary file beside DEST, synced, then renamed to DEST; exit 0 "
      "only once DEST is complete",
      "factsd backup"};
  app.add_option("--store", store,
                 "the database to copy, sqlite:PATH (default as factsd's own --store)")
      ->envname("FACTSD_STORE");
  app.add_option("DEST", dest, "where the copy goes (its folder must exist)")->required();
  app.add_flag("--force", force,
               "replace DEST if it exists (it stays as it was until the copy "
               "is complete)");
  try {
    app.parse(argc, argv);
  } catch (CLI::CallForHelp const&) {
    std::cout << app.help();
    return 0;
  } catch (CLI::ParseError const& e) {
    std::string what = e.what();
    while (!what.empty() && what.back() == '\n')
      what.pop_back();
    std::cerr << "factsd backup: " << what << " (see factsd backup --help)\n";
    return 2;
  }
  if (!store.starts_with(sqlite_url_prefix) || store.size() == sqlite_url_prefix.size()) {
    std::cerr << "factsd backup: --store: '" << store
              << "' is not sqlite:PATH (a nats:// log is backed up by JetStream itself: nats "
                 "stream backup)\n";
    return 2;
  }
  try {
    auto const done = backup_sqlite(store.substr(sqlite_url_prefix.size()), dest, force);
    std::cout << fmt::format("factsd backup: wrote {}: {} facts, last id {}, {} bytes in {} ms\n",
                             dest, done.facts, done.last_seq, done.bytes, done.took.count());
  } catch (store_error const& e) {
    std::cerr << "factsd backup: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace facts
