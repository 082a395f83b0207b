// stream_group: a published batch wakes a thread only where a stream can need it.
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "facts/broadcaster.hpp"
#include "facts/catch_up_reader.hpp"
#include "facts/http/stream_group.hpp"
#include "facts/limits.hpp"
#include "facts/metrics.hpp"
#include "facts/store/memory_store.hpp"

namespace {

namespace net = boost::asio;

TEST_CASE("a stream group with no stream is not woken by published batches") {
  // With every connection on a thread posting (or --threads 2 and one stream), a pass per
  // batch on a thread that has no stream would be a wake-up for nothing.
  facts::memory_store store;
  facts::broadcaster hub{{}, 0};
  facts::catch_up_reader reader(store);
  facts::limits const lim{};
  facts::metrics stats;
  net::io_context ioc{1};
  auto group = std::make_shared<facts::http::stream_group>(ioc, hub, reader, lim, stats);
  hub.attach(group);

  for (std::uint64_t seq = 1; seq <= 3; ++seq)
    hub.publish({{seq, R"({"n":)" + std::to_string(seq) + "}"}});
  CHECK(ioc.poll() == 0);  // nothing was posted to the group's thread

  // What they carried is the snapshot's, for a stream that joins from now on.
  auto joined = hub.join(std::nullopt);
  REQUIRE(joined);
  CHECK(joined->seq == 3);
  hub.leave();
  hub.detach(group.get());
}

}  // namespace
