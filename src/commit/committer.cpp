#include "facts/commit/committer.hpp"

#include "facts/commit/inline_committer.hpp"
#include "facts/commit/log_committer.hpp"
#include "facts/commit/thread_committer.hpp"

namespace facts {

void committer::submit(append_request request, completion done) {
  std::vector<submission> one;
  one.push_back({std::move(request), std::move(done)});
  submit_all(std::move(one));
}

std::unique_ptr<committer> make_committer(fact_store& store, broadcaster& hub,
                                          std::chrono::milliseconds fan_out_timeout) {
  if (store.appends_async()) return std::make_unique<log_committer>(store, hub, fan_out_timeout);
  if (store.appends_without_waiting())
    return std::make_unique<inline_committer>(store, hub, fan_out_timeout);
  return std::make_unique<thread_committer>(store, hub, fan_out_timeout);
}

}  // namespace facts
