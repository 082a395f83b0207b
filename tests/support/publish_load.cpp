#include "support/publish_load.hpp"

#include <exception>
#include <nlohmann/json.hpp>
#include <utility>

namespace facts::test {

publish_load::publish_load(std::vector<std::uint16_t> ports, publish_load_options opts)
    : ports_(std::move(ports)), opts_(std::move(opts)), facts_(opts_.facts) {
  for (std::size_t i = 0; i < facts_.size(); ++i) {
    facts_[i].key = opts_.tag + "-" + std::to_string(i);
    facts_[i].info = opts_.tag + "-fact-" + std::to_string(i);
  }
  start_ = steady_clock::now();
  for (std::size_t t = 0; t < opts_.publishers; ++t)
    threads_.emplace_back([this, t] { run(t); });
}

publish_load::~publish_load() {
  wait();
}

void publish_load::wait() {
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void publish_load::run(std::size_t publisher) {
  connections open;
  for (std::size_t i = publisher; i < facts_.size(); i += opts_.publishers) {
    publish(open, facts_[i], i);
    if (opts_.pause.count() > 0) std::this_thread::sleep_for(opts_.pause);
  }
}

void publish_load::publish(connections& open, published_fact& fact, std::size_t index) {
  auto const body = nlohmann::json{{"info", fact.info}, {"source", "cluster-test"}}.dump();
  for (std::size_t n = 0; steady_clock::now() - start_ < opts_.give_up_after; ++n) {
    auto const attempt = post(open, ports_[(index + n) % ports_.size()], body, fact.key);
    fact.attempts.push_back(attempt);
    if (attempt.status == 201) {
      fact.id = attempt.id;
      ++acked_;
      return;
    }
    std::this_thread::sleep_for(opts_.retry_pause);
  }
}

publish_attempt publish_load::post(connections& open, std::uint16_t port, std::string const& body,
                                   std::string const& key) {
  publish_attempt a;
  a.port = port;
  a.sent = steady_clock::now();
  try {
    auto& conn = open[port];
    if (!conn) conn = std::make_unique<http_connection>(port, opts_.request_timeout);
    auto const res =
        conn->send(make_request(http::verb::post, "/fact", body,
                                {{"Content-Type", "application/json"}, {"Idempotency-Key", key}}),
                   opts_.request_timeout);
    a.status = res.result_int();
    a.replayed = header(res, "Idempotent-Replayed") == "true";
    a.id = seq_from_location(res);
    if (!res.keep_alive()) open.erase(port);
  } catch (std::exception const&) {
    a.status = 0;  // no answer: the connection is gone, the next attempt opens another
    open.erase(port);
  }
  a.took = std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - a.sent);
  return a;
}

}  // namespace facts::test
