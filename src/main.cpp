#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <iostream>

#include "facts/config.hpp"
#include "facts/server.hpp"

int main(int argc, char** argv) {
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
    facts::server daemon(parsed.config);
    daemon.start();
    spdlog::info("signal {} received, shutting down", signals.wait());
    daemon.stop();
  } catch (std::exception const& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
  return 0;
}
