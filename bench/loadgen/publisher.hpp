#pragma once

#include <boost/asio.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "latency_histogram.hpp"

namespace loadgen {

namespace net = boost::asio;
using tcp = net::ip::tcp;

/// Which facts to publish, and how fast.
struct publish_plan {
  std::uint64_t first_seq = 0;
  std::uint64_t count = 0;    ///< most facts to publish
  double rate = 0;            ///< facts per second; 0: as fast as the server answers
  std::size_t in_flight = 8;  ///< keep-alive connections, each with one POST in flight
  std::chrono::milliseconds max_duration{0};  ///< stop starting new POSTs after this (0: none)
};

/// What publishing did. Facts are numbered first_seq, first_seq + 1, ... in the order sent.
struct publish_tally {
  std::uint64_t sent = 0;
  std::uint64_t acked = 0;   ///< answered 2xx
  std::uint64_t failed = 0;  ///< answered otherwise, or the connection broke
  std::uint64_t first_send_us = 0;
  std::uint64_t last_ack_us = 0;
  std::string first_error;
  latency_histogram answer_latency;  ///< POST to its answer, microseconds
  std::vector<std::uint64_t> failed_seqs;
};

/**
 * Represents the publishing side: POSTs benchmark facts over `in_flight` keep-alive
 * connections, each carrying its sequence number and send time, either on a fixed schedule
 * (paced) or as fast as the answers come back. Runs on the io_context of the calling thread.
 */
class publisher {
 public:
  /// `path`: where facts are POSTed (/fact); `host`: the Host header.
  publisher(tcp::endpoint server, std::string host, std::string path);
  ~publisher();

  /// Publishes per `plan` and returns when every POST is answered or failed.
  publish_tally run(publish_plan const& plan);

 private:
  class connection;
  friend class connection;

  void on_free(connection& c);
  void on_tick();
  bool more_to_send() const;

  net::io_context ioc_;
  tcp::endpoint server_;
  std::string host_;
  std::string path_;

  publish_plan plan_;
  publish_tally tally_;
  std::uint64_t next_ = 0;       // facts handed to a connection so far
  std::uint64_t scheduled_ = 0;  // paced: facts whose time has come
  std::uint64_t start_us_ = 0;
  std::unique_ptr<net::steady_timer> pace_timer_;
  std::vector<std::unique_ptr<connection>> connections_;
};

}  // namespace loadgen
