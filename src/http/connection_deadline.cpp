#include "facts/http/connection_deadline.hpp"

namespace facts::http {

connection_deadline::connection_deadline(net::any_io_executor executor, std::weak_ptr<void> owner,
                                         std::function<void()> on_expired)
    : timer_(std::move(executor)), owner_(std::move(owner)), on_expired_(std::move(on_expired)) {}

void connection_deadline::expire_after(clock::duration timeout) {
  deadline_ = clock::now() + timeout;
  // A pending wait that ends no later than the new deadline looks again when it ends.
  if (deadline_ < armed_for_) arm(deadline_);
}

void connection_deadline::expire_never() {
  deadline_ = clock::time_point::max();
}

void connection_deadline::arm(clock::time_point when) {
  armed_for_ = when;
  timer_.expires_at(when);  // a wait it replaces ends with operation_aborted
  timer_.async_wait([this, owner = owner_](beast::error_code ec) {
    if (ec) return;
    // The owner holds this object: alive while the owner is.
    if (auto const alive = owner.lock()) on_timer();
  });
}

void connection_deadline::on_timer() {
  armed_for_ = clock::time_point::max();
  if (deadline_ == clock::time_point::max()) return;
  if (clock::now() < deadline_) return arm(deadline_);
  on_expired_();
}

}  // namespace facts::http
