#include "support/factsd_instance.hpp"

#include <stdexcept>
#include <utility>

namespace facts::test {

std::vector<std::string> nats_test_flags(std::vector<std::string> more) {
  std::vector<std::string> flags{"--threads",         "2", "--heartbeat",       "1",
                                 "--publish-timeout", "2", "--connect-timeout", "10"};
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

factsd_instance::factsd_instance(std::string store, std::vector<std::string> flags)
    : store_(std::move(store)), flags_(std::move(flags)) {
  start();
}

void factsd_instance::kill_hard() {
  process_->kill_hard();
  port_ = 0;
}

void factsd_instance::start() {
  std::vector<std::string> args{FACTSD_BINARY, "--listen", "127.0.0.1:0", "--store", store_};
  args.insert(args.end(), flags_.begin(), flags_.end());
  process_ = std::make_unique<child_process>(args);
  auto const port = process_->wait_for_port(start_timeout);
  if (!port) throw std::runtime_error("factsd did not start: " + log_tail());
  port_ = *port;
}

std::string factsd_instance::log_tail(std::size_t bytes) const {
  auto const err = process_->err();
  return err.substr(err.size() > bytes ? err.size() - bytes : 0);
}

}  // namespace facts::test
