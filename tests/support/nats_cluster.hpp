#pragma once

// Real nats-server processes for the scale-out tests: one JetStream server, or a JetStream
// cluster of several nodes routed to each other on loopback. Each node has its own ports (fixed
// at construction, so that a node killed with SIGKILL comes back where its peers and factsd look
// for it) and its own store folder under one temporary folder. Every node is stopped by its pid
// when the cluster object goes away; every wait has a deadline.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "support/files.hpp"
#include "support/http_client.hpp"
#include "support/ports.hpp"
#include "support/process.hpp"
#include "support/wait.hpp"

namespace facts::test {

/// The nats-server binary: the first one on PATH, else Debian's place for it.
inline std::string nats_server_binary() {
  std::vector<std::string> dirs;
  if (char const* path = std::getenv("PATH")) {
    std::string_view rest(path);
    while (!rest.empty()) {
      auto const colon = rest.find(':');
      dirs.emplace_back(rest.substr(0, colon));
      rest.remove_prefix(colon == std::string_view::npos ? rest.size() : colon + 1);
    }
  }
  dirs.emplace_back("/usr/sbin");
  dirs.emplace_back("/usr/bin");
  for (auto const& dir : dirs) {
    auto const candidate = std::filesystem::path(dir) / "nats-server";
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  throw std::runtime_error("nats-server is not installed (scripts/bootstrap --test installs it)");
}

/// GET `target` on a monitoring port, parsed; nullopt when the node does not answer 200 JSON.
inline std::optional<nlohmann::json> monitor_json(std::uint16_t port, std::string_view target) {
  try {
    auto const res = request(port, http::verb::get, target, {}, {}, std::chrono::seconds(2));
    if (res.result() != http::status::ok) return std::nullopt;
    auto body = nlohmann::json::parse(res.body(), nullptr, false);
    if (body.is_discarded()) return std::nullopt;
    return body;
  } catch (std::exception const&) {
    return std::nullopt;  // not listening (yet, or any more)
  }
}

/** Represents one nats-server with JetStream: its ports, its store folder and its process. */
class nats_node {
 public:
  nats_node(std::string name, std::filesystem::path dir, std::uint16_t client_port,
            std::uint16_t http_port, std::uint16_t cluster_port)
      : name_(std::move(name)),
        dir_(std::move(dir)),
        client_port_(client_port),
        http_port_(http_port),
        cluster_port_(cluster_port) {
    std::filesystem::create_directories(dir_ / "store");
  }

  /// Writes the configuration; `routes` empty: a single server without a cluster block.
  void configure(std::vector<std::uint16_t> const& routes) {
    std::string conf = "server_name: " + name_ + "\n" +
                       "listen: 127.0.0.1:" + std::to_string(client_port_) + "\n" +
                       "http: 127.0.0.1:" + std::to_string(http_port_) + "\n" +
                       "jetstream { store_dir: \"" + (dir_ / "store").string() +
                       "\", max_mem_store: 64MB, max_file_store: 1GB }\n";
    if (!routes.empty()) {
      conf += "cluster { name: facts, listen: 127.0.0.1:" + std::to_string(cluster_port_) +
              ", routes: [";
      for (std::size_t i = 0; i < routes.size(); ++i)
        conf +=
            (i ? ", " : "") + std::string("nats-route://127.0.0.1:") + std::to_string(routes[i]);
      conf += "] }\n";
    }
    std::ofstream(dir_ / "nats.conf") << conf;
  }

  void start() {
    if (running()) return;
    process_ = std::make_unique<child_process>(
        std::vector<std::string>{nats_server_binary(), "-c", (dir_ / "nats.conf").string()});
  }

  /// SIGKILL and reap: the crash of the machine's process, its store folder kept.
  void kill_hard() {
    if (!process_) return;
    process_->kill_hard();
    last_log_ = process_->err();
    process_.reset();
  }

  bool running() const { return process_ != nullptr; }

  /// /healthz answers 200: the server accepts clients and its JetStream is up.
  bool healthy() const { return running() && monitor_json(http_port_, "/healthz").has_value(); }

  /// The meta leader's name as this node sees it ("" when it knows none).
  std::string meta_leader() const {
    auto const jsz = monitor_json(http_port_, "/jsz");
    if (!jsz || !jsz->contains("meta_cluster")) return {};
    return jsz->at("meta_cluster").value("leader", std::string{});
  }

  /// The leader of stream `stream` as this node sees it; for a single server its own name.
  std::optional<std::string> stream_leader(std::string const& stream) const {
    auto const jsz = monitor_json(http_port_, "/jsz?accounts=true&streams=true");
    if (!jsz || !jsz->contains("account_details")) return std::nullopt;
    for (auto const& account : jsz->at("account_details")) {
      for (auto const& s : account.value("stream_detail", nlohmann::json::array())) {
        if (s.value("name", std::string{}) != stream) continue;
        if (!s.contains("cluster") || !s["cluster"].contains("leader")) return name_;
        auto leader = s["cluster"].value("leader", std::string{});
        if (leader.empty()) return std::nullopt;
        return leader;
      }
    }
    return std::nullopt;
  }

  std::string const& name() const { return name_; }
  std::uint16_t client_port() const { return client_port_; }
  std::uint16_t http_port() const { return http_port_; }

  /// What it wrote to stderr (its log), or what it wrote before it was last killed.
  std::string log() const { return process_ ? process_->err() : last_log_; }

 private:
  std::string name_;
  std::filesystem::path dir_;
  std::uint16_t client_port_;
  std::uint16_t http_port_;
  std::uint16_t cluster_port_;
  std::unique_ptr<child_process> process_;
  std::string last_log_;
};

/**
 * Represents `size` JetStream nodes on loopback: one single server for size 1, otherwise a
 * cluster named "facts" whose nodes route to each other. The constructor starts every node and
 * waits until each is healthy (and, in a cluster, knows the meta leader), or throws.
 */
class nats_cluster {
 public:
  static constexpr std::chrono::seconds ready_timeout{30};

  explicit nats_cluster(std::size_t size) {
    auto const ports = free_loopback_ports(3 * size);
    std::vector<std::uint16_t> routes;
    for (std::size_t i = 0; i < size && size > 1; ++i)
      routes.push_back(ports[3 * i + 2]);
    for (std::size_t i = 0; i < size; ++i) {
      nodes_.push_back(std::make_unique<nats_node>(
          "n" + std::to_string(i + 1), dir_.path() / ("n" + std::to_string(i + 1)), ports[3 * i],
          ports[3 * i + 1], ports[3 * i + 2]));
      nodes_.back()->configure(routes);
    }
    start_all();
  }

  std::size_t size() const { return nodes_.size(); }
  nats_node& node(std::size_t i) { return *nodes_.at(i); }

  /// The --store URL naming every node: nats://127.0.0.1:P1,127.0.0.1:P2/STREAM?replicas=R.
  std::string store_url(std::string const& stream, std::size_t replicas) const {
    std::string url = "nats://";
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      url += (i ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(nodes_[i]->client_port());
    return url + "/" + stream + "?replicas=" + std::to_string(replicas);
  }

  /// Starts every node that is not running and waits until all are ready.
  void start_all() {
    for (auto& n : nodes_)
      n->start();
    wait_ready();
  }

  /// SIGKILLs every node.
  void kill_all() {
    for (auto& n : nodes_)
      n->kill_hard();
  }

  /// Every running node is healthy and, in a cluster, names the same meta leader.
  bool ready() const {
    std::string leader;
    for (auto const& n : nodes_) {
      if (!n->running()) continue;
      if (!n->healthy()) return false;
      if (nodes_.size() == 1) continue;
      auto const seen = n->meta_leader();
      if (seen.empty() || (!leader.empty() && seen != leader)) return false;
      leader = seen;
    }
    return true;
  }

  void wait_ready(std::chrono::milliseconds timeout = ready_timeout) {
    if (!eventually([&] { return ready(); }, timeout))
      throw std::runtime_error("the NATS nodes were not ready in time; n1 says: " + logs_tail());
  }

  /// Which node leads `stream` now, as the running nodes agree; nullopt while none does.
  std::optional<std::size_t> stream_leader(std::string const& stream) const {
    std::optional<std::string> agreed;
    for (auto const& n : nodes_) {
      if (!n->running()) continue;
      auto const seen = n->stream_leader(stream);
      if (!seen || (agreed && *agreed != *seen)) return std::nullopt;
      agreed = seen;
    }
    for (std::size_t i = 0; agreed && i < nodes_.size(); ++i)
      if (nodes_[i]->name() == *agreed && nodes_[i]->running()) return i;
    return std::nullopt;
  }

  /// Waits until the running nodes agree on a live leader of `stream`.
  std::optional<std::size_t> wait_stream_leader(std::string const& stream,
                                                std::chrono::milliseconds timeout) const {
    std::optional<std::size_t> leader;
    eventually([&] { return (leader = stream_leader(stream)).has_value(); }, timeout);
    return leader;
  }

  /// The last lines each node logged, for a failed check's message.
  std::string logs_tail(std::size_t bytes = 1500) const {
    std::string out;
    for (auto const& n : nodes_) {
      auto const log = n->log();
      out += "\n--- " + n->name() + ":\n" + log.substr(log.size() > bytes ? log.size() - bytes : 0);
    }
    return out;
  }

 private:
  temp_dir dir_;  // declared first: it outlives the nodes, whose folders are inside it
  std::vector<std::unique_ptr<nats_node>> nodes_;
};

}  // namespace facts::test
