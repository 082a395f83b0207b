#pragma once

// Real nats-server processes for the scale-out tests: one JetStream server, or a JetStream
// cluster of several nodes routed to each other on loopback. Each node has its own ports (fixed
// at construction, so that a node killed with SIGKILL comes back where its peers and factsd look
// for it) and its own store folder under one temporary folder. Every node is stopped by its pid
// when the cluster object goes away; every wait has a deadline.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/files.hpp"
#include "support/process.hpp"

namespace facts::test {

/// The nats-server binary: the first one on PATH, else Debian's place for it.
std::string nats_server_binary();

/// GET `target` on a monitoring port, parsed; nullopt when the node does not answer 200 JSON.
std::optional<nlohmann::json> monitor_json(std::uint16_t port, std::string_view target);

/** Represents one nats-server with JetStream: its ports, its store folder and its process. */
class nats_node {
 public:
  nats_node(std::string name, std::filesystem::path dir, std::uint16_t client_port,
            std::uint16_t http_port, std::uint16_t cluster_port);

  /// Writes the configuration; `routes` empty: a single server without a cluster block.
  /// `extra` is appended as it is (an authorization block, say).
  void configure(std::vector<std::uint16_t> const& routes, std::string const& extra = {});

  void start();

  /// SIGKILL and reap: the crash of the machine's process, its store folder kept.
  void kill_hard();

  /// SIGSTOP: a server that stops answering while its connections stay open (a hung machine,
  /// a partition); returns once every thread of it has stopped. resume() lets it go on.
  void pause();
  void resume();

  bool running() const { return process_ != nullptr; }

  /// /healthz answers 200: the server accepts clients and its JetStream is up.
  bool healthy() const;

  /// The meta leader's name as this node sees it ("" when it knows none).
  std::string meta_leader() const;

  /// The leader of stream `stream` as this node sees it; for a single server its own name.
  std::optional<std::string> stream_leader(std::string const& stream) const;

  std::string const& name() const { return name_; }
  std::uint16_t client_port() const { return client_port_; }
  std::uint16_t http_port() const { return http_port_; }

  /// What it wrote to stderr (its log), or what it wrote before it was last killed.
  std::string log() const;

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

  /// `extra_config` goes at the end of every node's configuration.
  explicit nats_cluster(std::size_t size, std::string const& extra_config = {});

  std::size_t size() const { return nodes_.size(); }
  nats_node& node(std::size_t i) { return *nodes_.at(i); }

  /// The --store URL naming every node: nats://127.0.0.1:P1,127.0.0.1:P2/STREAM?replicas=R.
  std::string store_url(std::string const& stream, std::size_t replicas) const;

  /// Starts every node that is not running and waits until all are ready.
  void start_all();

  /// SIGKILLs every node.
  void kill_all();

  /// SIGSTOPs every running node / SIGCONTs it again.
  void pause_all();
  void resume_all();

  /// Every running node is healthy and, in a cluster, names the same meta leader.
  bool ready() const;

  void wait_ready(std::chrono::milliseconds timeout = ready_timeout);

  /// Which node leads `stream` now, as the running nodes agree; nullopt while none does.
  std::optional<std::size_t> stream_leader(std::string const& stream) const;

  /// Waits until the running nodes agree on a live leader of `stream`.
  std::optional<std::size_t> wait_stream_leader(std::string const& stream,
                                                std::chrono::milliseconds timeout) const;

  /// The last lines each node logged, for a failed check's message.
  std::string logs_tail(std::size_t bytes = 1500) const;

 private:
  temp_dir dir_;  // declared first: it outlives the nodes, whose folders are inside it
  std::vector<std::unique_ptr<nats_node>> nodes_;
};

}  // namespace facts::test
