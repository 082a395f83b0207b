// loadgen: the fan-out load generator of scripts/bench, and the formatter of its results.
//   loadgen run [options] [-- SERVER ARGS...]   one session against one server (see --help)
//   loadgen table RECORDS...    the markdown tables and target checks from record files
//   loadgen free-port           prints a free loopback port (for servers that cannot take 0)
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <map>

#include "options.hpp"
#include "report_table.hpp"
#include "session.hpp"

namespace {

int print_free_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(
      ioc, {boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(0)});
  std::printf("%u\n", acceptor.local_endpoint().port());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Fan-out load generator for factsd and its peers"};
  app.require_subcommand(1);

  loadgen::session_options opt;
  auto* run = app.add_subcommand("run", "run one session against one server");
  run->add_option("--server", opt.server, "HOST:PORT of a running server");
  run->add_option("command", opt.spawn,
                  "after --: a server command to start; its `listening on HOST:PORT` line on "
                  "stderr gives the address");
  run->add_option("--server-pid", opt.server_pid, "process whose CPU and memory to report");
  std::map<std::string, loadgen::protocol> const protocols{
      {"factsd", loadgen::protocol::factsd},
      {"tutorial", loadgen::protocol::tutorial},
      {"nchan", loadgen::protocol::nchan},
      {"floor", loadgen::protocol::floor}};
  run->add_option("--protocol", opt.proto, "factsd, tutorial, nchan or floor")
      ->transform(CLI::CheckedTransformer(protocols));
  run->add_option("--events-path", opt.events_path, "where streams are opened");
  run->add_option("--publish-path", opt.publish_path, "where facts are POSTed");
  run->add_option("--label", opt.label, "peer name in the records");
  run->add_option("--table", opt.table, "table name in the records");
  run->add_option("--streams", opt.streams, "N: event streams to open");
  run->add_option("--connect-window", opt.connect_window, "streams connecting at once");
  run->add_option("--idle-seconds", opt.idle_seconds,
                  "hold the streams idle this long after connecting, then report RSS per stream");
  run->add_option("--preload", opt.preload, "facts to publish before the streams connect");
  run->add_option("--paced-events", opt.paced_events_per_s,
                  "paced phase: offered delivered events per second (fact rate x N)");
  run->add_option("--paced-facts", opt.paced_facts, "paced phase: facts to publish (0: none)");
  run->add_option("--max-facts", opt.max_facts, "max-rate phase: most facts (0: no phase)");
  run->add_option("--max-seconds", opt.max_seconds, "max-rate phase: stop posting after this");
  run->add_option("--in-flight", opt.in_flight, "K: POSTs in flight");
  run->add_option("--drain-seconds", opt.drain_seconds,
                  "longest wait for delivery after the last POST is answered");
  run->add_flag("--check", opt.check,
                "exit 1 unless every fact reached every stream once and in order");
  run->add_option("--records", opt.records, "also append the record lines to this file");

  std::vector<std::string> record_files;
  auto* table = app.add_subcommand("table", "print the markdown tables from record files");
  table->add_option("records", record_files, "files holding record lines")->required();

  auto* free_port = app.add_subcommand("free-port", "print a free loopback port");

  CLI11_PARSE(app, argc, argv);
  try {
    if (*run) {
      if (opt.server.empty() == opt.spawn.empty()) {
        std::cerr
            << "loadgen run: give --server HOST:PORT or a server command after --, not both\n";
        return 2;
      }
      return loadgen::run_session(opt);
    }
    if (*table) return loadgen::print_tables(record_files, std::cout);
    if (*free_port) return print_free_port();
  } catch (std::exception const& e) {
    std::cerr << "loadgen: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
