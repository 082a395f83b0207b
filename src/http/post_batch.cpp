#include "facts/http/post_batch.hpp"

#include <type_traits>

namespace facts::http {

// std::function keeps a callable this small and plain without allocating: one allocation less
// per POST than a lambda that carries the answer itself.
static_assert(sizeof(post_batch::answer_slot) <= 16 &&
              std::is_trivially_copyable_v<post_batch::answer_slot>);

void post_batch::answer_slot::operator()(std::optional<append_result> result) const {
  batch->take_answer(flush, index, std::move(result));
}

post_batch::post_batch(net::io_context& ioc, committer& commits)
    : ioc_(ioc), commits_(commits), each_alone_(commits.answers_each_alone()) {}

void post_batch::add(append_request fact, answer on_answer) {
  // Posted behind the handlers already due in this pass, so the POSTs they read join it.
  if (to_writer_.empty()) net::post(ioc_, [this] { hand_to_writer(); });
  to_writer_.push_back(
      {std::move(fact), answer_slot{this, static_cast<std::uint32_t>(next_flush_),
                                    static_cast<std::uint32_t>(to_writer_.size())}});
  to_writer_answers_.push_back(std::move(on_answer));
}

void post_batch::hand_to_writer() {
  std::vector<committer::submission> batch;
  batch.swap(to_writer_);
  {
    // Before the writer has it: a stopped writer answers at once, on this thread.
    std::lock_guard lock(answers_mutex_);
    auto& h = unanswered_.emplace_back();
    h.flush = next_flush_;
    h.answers.swap(to_writer_answers_);
    h.results.resize(batch.size());
    h.left = batch.size();
  }
  ++next_flush_;
  commits_.submit_all(std::move(batch));
}

void post_batch::take_answer(std::uint32_t flush, std::uint32_t index,
                             std::optional<append_result> result) {
  bool wake = false;
  {
    std::lock_guard lock(answers_mutex_);
    for (auto& h : unanswered_)
      if (static_cast<std::uint32_t>(h.flush) == flush) {
        h.results[index] = std::move(result);
        --h.left;
        // Kept by address: a deque's elements stay put while others come and go at its ends,
        // and this one is not dropped before its answers ran.
        if (each_alone_) came_alone_.emplace_back(&h, index);
        break;
      }
    // The I/O thread is woken once the oldest hand-over is answered whole, not at its first
    // answer: on a shared core it would preempt the writer after each answer, and take them one
    // by one. Answers that come one by one anyway are taken as they come.
    wake = !wake_posted_ && !unanswered_.empty() && (each_alone_ || unanswered_.front().left == 0);
    if (wake) wake_posted_ = true;
  }
  if (wake) net::post(ioc_, [this] { give_answers(); });
}

void post_batch::give_answers() {
  if (each_alone_) {
    std::vector<std::pair<answer, std::optional<append_result>>> ready;
    {
      std::lock_guard lock(answers_mutex_);
      take_each_answered_locked(ready);
      wake_posted_ = false;
    }
    for (auto& [on_answer, result] : ready)
      on_answer(std::move(result));
    return;
  }
  std::vector<hand_over> answered;
  {
    std::lock_guard lock(answers_mutex_);
    while (!unanswered_.empty() && unanswered_.front().left == 0) {
      answered.push_back(std::move(unanswered_.front()));
      unanswered_.pop_front();
    }
    wake_posted_ = false;
  }
  for (auto& h : answered)
    for (std::size_t i = 0; i < h.answers.size(); ++i)
      h.answers[i](std::move(h.results[i]));
}

void post_batch::take_each_answered_locked(
    std::vector<std::pair<answer, std::optional<append_result>>>& out) {
  for (auto const& [h, index] : came_alone_) {
    out.emplace_back(std::move(h->answers[index]), std::move(h->results[index]));
    ++h->given;
  }
  came_alone_.clear();
  while (!unanswered_.empty() && unanswered_.front().given == unanswered_.front().answers.size())
    unanswered_.pop_front();
}

}  // namespace facts::http
