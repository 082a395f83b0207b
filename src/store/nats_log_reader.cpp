#include "facts/store/nats_log_reader.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "facts/store/nats_calls.hpp"

namespace facts {

namespace {

using clock = std::chrono::steady_clock;

// Most messages asked for in one fetch of a range read.
constexpr std::uint64_t max_fetch_batch = 1000;

// How many messages the next fetch of a range read asks for, `read` facts of `bytes` in: first
// the `at_least` the caller needs, then as many as their average size says still fit in
// `enough_bytes` (one more, to pass it). So a range read holds no more than one fact beyond
// the caller's need and the bound, whether facts are 10 bytes or 64 KiB.
std::uint64_t fetch_batch(std::uint64_t wanted, std::uint64_t at_least, std::size_t enough_bytes,
                          std::uint64_t read, std::size_t bytes) {
  auto batch = wanted - read;
  if (read < at_least) {
    batch = at_least - read;
  } else {
    auto const average = std::max<std::size_t>(1, bytes / std::max<std::uint64_t>(1, read));
    batch = std::min<std::uint64_t>(batch, (enough_bytes - bytes) / average + 1);
  }
  return std::min(batch, max_fetch_batch);
}

}  // namespace

nats_log_reader::nats_log_reader(nats_connection const& connection, log_payloads& payloads,
                                 nats_url url, nats_timings const& timings)
    : connection_(connection),
      payloads_(payloads),
      url_(std::move(url)),
      subject_(url_.subject()),
      timings_(timings) {}

void nats_log_reader::wait_connected(std::chrono::milliseconds wait, std::uint64_t first) const {
  // While nats.c reconnects it refuses requests at once (no reconnect buffer): a read waits for
  // the connection as a buffered request used to, and ends at once when the store closes.
  if (connection_.wait_connected(clock::now() + wait)) return;
  throw nats_failure(
      url_, "reading facts from " + std::to_string(first) + " failed: " +
                (connection_.closing() ? "the store is closing" : "not connected to NATS"));
}

std::optional<fact> nats_log_reader::get(std::uint64_t seq) const {
  wait_connected(timings_.request, seq);
  jsDirectGetMsgOptions get;
  jsDirectGetMsgOptions_Init(&get);
  get.Sequence = seq;
  // Each of the two requests waits one request's time: both together answer within P.
  auto call = js_call(timings_.request);
  natsMsg* msg = nullptr;
  // Any replica answers a direct get; one that lags may not have it yet: then the leader.
  natsStatus s = js_DirectGetMsg(&msg, connection_.js(), url_.stream.c_str(), &call, &get);
  if (s != NATS_OK) {
    jsErrCode code = no_js_error;
    s = js_GetMsg(&msg, connection_.js(), url_.stream.c_str(), seq, &call, &code);
    if (s != NATS_OK) {
      if (code == JSNoMessageFoundErr) return std::nullopt;
      throw nats_failure(url_, "reading fact " + std::to_string(seq) + " failed: " + nats_error(s));
    }
  }
  auto f = payloads_.to_fact(payload_of(msg), seq);
  natsMsg_Destroy(msg);
  return f;
}

std::vector<fact> nats_log_reader::range(std::uint64_t first, std::uint64_t last,
                                         std::size_t enough_bytes, std::uint64_t at_least) const {
  wait_connected(timings_.request, first);
  ++ranges_read_;
  jsSubOptions sub_opts;
  jsSubOptions_Init(&sub_opts);
  sub_opts.Stream = url_.stream.c_str();
  sub_opts.Config.DeliverPolicy = js_DeliverByStartSequence;
  sub_opts.Config.OptStartSeq = first;
  sub_opts.Config.AckPolicy = js_AckNone;
  sub_opts.Config.MemoryStorage = true;
  sub_opts.Config.Replicas = 1;
  sub_opts.Config.InactiveThreshold = std::chrono::nanoseconds(timings_.range_idle).count();
  auto call = js_call(timings_.publish);
  natsSubscription* sub = nullptr;
  jsErrCode code = no_js_error;
  natsStatus s =
      js_PullSubscribe(&sub, connection_.js(), subject_.c_str(), nullptr, &call, &sub_opts, &code);
  if (s != NATS_OK)
    throw nats_failure(url_, "reading facts " + std::to_string(first) + ".." +
                                 std::to_string(last) + " failed: " + nats_error(s));
  std::vector<fact> out;
  std::size_t bytes = 0;
  auto const deadline = clock::now() + timings_.publish;
  auto const wanted = last - first + 1;
  at_least = std::min(at_least, wanted);
  bool gap = false;
  while (!gap && out.size() < wanted && (out.size() < at_least || bytes < enough_bytes) &&
         clock::now() < deadline) {
    jsFetchRequest request;
    jsFetchRequest_Init(&request);
    request.Batch =
        static_cast<int>(fetch_batch(wanted, at_least, enough_bytes, out.size(), bytes));
    request.Expires =
        std::chrono::nanoseconds(std::min(timings_.request, millis_left(deadline))).count();
    natsMsgList list{};
    s = natsSubscription_FetchRequest(&list, sub, &request);
    for (int i = 0; i < list.Count; ++i) {
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, list.Msgs[i]) == NATS_OK) {
        auto const seq = meta->Sequence.Stream;
        if (seq != first + out.size()) {
          gap = gap || seq > first + out.size();
        } else if (seq <= last) {
          out.push_back(payloads_.to_fact(payload_of(list.Msgs[i]), seq));
          bytes += out.back().json.size();
        }
        jsMsgMetaData_Destroy(meta);
      }
    }
    natsMsgList_Destroy(&list);
    if (s != NATS_OK && s != NATS_TIMEOUT) break;
  }
  if (gap)
    spdlog::error("[nats] stream {} skips a seq after {}: its ids are no longer dense", url_.stream,
                  first + out.size() - 1);
  natsSubscription_Unsubscribe(sub);  // deletes the ephemeral consumer
  natsSubscription_Destroy(sub);
  if (out.size() < wanted && out.empty())
    throw nats_failure(url_,
                       "reading facts from " + std::to_string(first) + " failed: " + nats_error(s));
  return out;
}

}  // namespace facts
