#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string_view>

#include "facts/backup_command.hpp"
#include "facts/config.hpp"
#include "facts/server.hpp"
#include "facts/service_notify.hpp"

int main(int argc, char** argv) {
  // A subcommand beside the server, not one of its flags: the server's command line stays as
  // it was, and a backup needs the store alone.
  if (argc > 1 && std::string_view(argv[1]) == "backup")
    return facts::run_backup_command(argc - 1, argv + 1);
  auto parsed = facts::parse_config(argc, argv);
  if (parsed.exit_now) {
    (parsed.exit_code == 0 ? std::cout : std::cerr)
        << parsed.message << (parsed.exit_code ? "\n" : "");
    return parsed.exit_code;
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("factsd"));
  spdlog::set_level(spdlog::level::from_str(parsed.config.log_level));
  try {
    facts::shutdown_signals signals;
    auto const service_manager = facts::service_notifier::from_environment();
    facts::server daemon(parsed.config);
    daemon.start();
    // From here the port accepts and answers and the store is open: what systemd's Type=notify
    // waits for before it starts the units ordered after ours.
    service_manager.notify("READY=1");
    int signo = signals.wait();
    for (; signo == SIGHUP; signo = signals.wait()) {
      service_manager.notify("RELOADING=1");
      daemon.reload();
      service_manager.notify("READY=1");
    }
    spdlog::info("signal {} received, shutting down (a second one ends factsd at once)", signo);
    service_manager.notify("STOPPING=1");
    signals.exit_on_next();
    if (!daemon.stop()) {
      spdlog::critical("factsd could not stop within --shutdown-timeout; exiting at once");
      spdlog::default_logger()->flush();
      std::_Exit(1);
    }
  } catch (std::exception const& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
  return 0;
}
