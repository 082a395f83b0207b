#include "support/nats_cluster.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "support/http_client.hpp"
#include "support/ports.hpp"
#include "support/wait.hpp"

namespace facts::test {

std::string nats_server_binary() {
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

std::optional<nlohmann::json> monitor_json(std::uint16_t port, std::string_view target) {
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

nats_node::nats_node(std::string name, std::filesystem::path dir, std::uint16_t client_port,
                     std::uint16_t http_port, std::uint16_t cluster_port)
    : name_(std::move(name)),
      dir_(std::move(dir)),
      client_port_(client_port),
      http_port_(http_port),
      cluster_port_(cluster_port) {
  std::filesystem::create_directories(dir_ / "store");
}

void nats_node::configure(std::vector<std::uint16_t> const& routes, std::string const& extra) {
  std::string conf =
      "server_name: " + name_ + "\n" + "listen: 127.0.0.1:" + std::to_string(client_port_) + "\n" +
      "http: 127.0.0.1:" + std::to_string(http_port_) + "\n" + "jetstream { store_dir: \"" +
      (dir_ / "store").string() + "\", max_mem_store: 64MB, max_file_store: 1GB }\n";
  if (!routes.empty()) {
    conf +=
        "cluster { name: facts, listen: 127.0.0.1:" + std::to_string(cluster_port_) + ", routes: [";
    for (std::size_t i = 0; i < routes.size(); ++i)
      conf += (i ? ", " : "") + std::string("nats-route://127.0.0.1:") + std::to_string(routes[i]);
    conf += "] }\n";
  }
  std::ofstream(dir_ / "nats.conf") << conf << extra;
}

void nats_node::start() {
  if (running()) return;
  process_ = std::make_unique<child_process>(
      std::vector<std::string>{nats_server_binary(), "-c", (dir_ / "nats.conf").string()});
}

void nats_node::kill_hard() {
  if (!process_) return;
  process_->kill_hard();
  last_log_ = process_->err();
  process_.reset();
}

namespace {

// Every thread of `pid` is stopped (state T in /proc): a stop signal is taken by each thread on
// its own way back from the kernel, and a Go server has many.
bool all_threads_stopped(pid_t pid) {
  std::error_code ec;
  std::filesystem::directory_iterator tasks("/proc/" + std::to_string(pid) + "/task", ec);
  if (ec) return false;
  for (auto const& task : tasks) {
    std::ifstream file(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    auto const end_of_name = stat.rfind(')');
    if (end_of_name == std::string::npos || end_of_name + 2 >= stat.size()) return false;
    if (stat[end_of_name + 2] != 'T') return false;
  }
  return true;
}

}  // namespace

void nats_node::pause() {
  if (!process_) return;
  process_->send_signal(SIGSTOP);
  if (!eventually([&] { return all_threads_stopped(process_->pid()); }, std::chrono::seconds(5)))
    throw std::runtime_error("nats-server " + name_ + " did not stop on SIGSTOP");
}

void nats_node::resume() {
  if (process_) process_->send_signal(SIGCONT);
}

bool nats_node::healthy() const {
  return running() && monitor_json(http_port_, "/healthz").has_value();
}

std::string nats_node::meta_leader() const {
  auto const jsz = monitor_json(http_port_, "/jsz");
  if (!jsz || !jsz->contains("meta_cluster")) return {};
  return jsz->at("meta_cluster").value("leader", std::string{});
}

std::optional<std::string> nats_node::stream_leader(std::string const& stream) const {
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

std::string nats_node::log() const {
  return process_ ? process_->err() : last_log_;
}

nats_cluster::nats_cluster(std::size_t size, std::string const& extra_config) {
  auto const ports = free_loopback_ports(3 * size);
  std::vector<std::uint16_t> routes;
  for (std::size_t i = 0; i < size && size > 1; ++i)
    routes.push_back(ports[3 * i + 2]);
  for (std::size_t i = 0; i < size; ++i) {
    nodes_.push_back(std::make_unique<nats_node>("n" + std::to_string(i + 1),
                                                 dir_.path() / ("n" + std::to_string(i + 1)),
                                                 ports[3 * i], ports[3 * i + 1], ports[3 * i + 2]));
    nodes_.back()->configure(routes, extra_config);
  }
  start_all();
}

std::string nats_cluster::store_url(std::string const& stream, std::size_t replicas) const {
  std::string url = "nats://";
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    url += (i ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(nodes_[i]->client_port());
  return url + "/" + stream + "?replicas=" + std::to_string(replicas);
}

void nats_cluster::start_all() {
  for (auto& n : nodes_)
    n->start();
  wait_ready();
}

void nats_cluster::kill_all() {
  for (auto& n : nodes_)
    n->kill_hard();
}

void nats_cluster::pause_all() {
  for (auto& n : nodes_)
    n->pause();
}

void nats_cluster::resume_all() {
  for (auto& n : nodes_)
    n->resume();
}

bool nats_cluster::ready() const {
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

void nats_cluster::wait_ready(std::chrono::milliseconds timeout) {
  if (!eventually([&] { return ready(); }, timeout))
    throw std::runtime_error("the NATS nodes were not ready in time; n1 says: " + logs_tail());
}

std::optional<std::size_t> nats_cluster::stream_leader(std::string const& stream) const {
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

std::optional<std::size_t> nats_cluster::wait_stream_leader(
    std::string const& stream, std::chrono::milliseconds timeout) const {
  std::optional<std::size_t> leader;
  eventually([&] { return (leader = stream_leader(stream)).has_value(); }, timeout);
  return leader;
}

std::string nats_cluster::logs_tail(std::size_t bytes) const {
  std::string out;
  for (auto const& n : nodes_) {
    auto const log = n->log();
    out += "\n--- " + n->name() + ":\n" + log.substr(log.size() > bytes ? log.size() - bytes : 0);
  }
  return out;
}

}  // namespace facts::test
