#include "facts/http/post_batch.hpp"

namespace facts::http {

post_batch::post_batch(net::io_context& ioc, fact_writer& writer) : ioc_(ioc), writer_(writer) {}

void post_batch::add(append_request fact, answer on_answer) {
  // Posted behind the handlers already due in this pass, so the POSTs they read join it.
  if (to_writer_.empty()) net::post(ioc_, [this] { hand_to_writer(); });
  to_writer_.push_back(
      {std::move(fact), [this, flush = next_flush_, on_answer = std::move(on_answer)](
                            std::optional<append_result> result) mutable {
         take_answer(flush, std::move(on_answer), std::move(result));
       }});
}

void post_batch::hand_to_writer() {
  std::vector<fact_writer::submission> batch;
  batch.swap(to_writer_);
  {
    // Before the writer has it: a stopped writer answers at once, on this thread.
    std::lock_guard lock(answers_mutex_);
    unanswered_.push_back({next_flush_, batch.size()});
  }
  ++next_flush_;
  writer_.submit_all(std::move(batch));
}

void post_batch::take_answer(std::uint64_t flush, answer on_answer,
                             std::optional<append_result> result) {
  bool wake = false;
  {
    std::lock_guard lock(answers_mutex_);
    answers_.emplace_back(std::move(on_answer), std::move(result));
    for (auto& f : unanswered_)
      if (f.flush == flush) {
        --f.left;
        break;
      }
    // The I/O thread is woken once the oldest hand-over is answered whole, not at its first
    // answer: on a shared core it would preempt the writer after each answer, and take them one
    // by one.
    while (!unanswered_.empty() && unanswered_.front().left == 0) {
      unanswered_.pop_front();
      wake = true;
    }
    wake = wake && !wake_posted_;
    if (wake) wake_posted_ = true;
  }
  if (wake) net::post(ioc_, [this] { give_answers(); });
}

void post_batch::give_answers() {
  std::vector<std::pair<answer, std::optional<append_result>>> answers;
  {
    std::lock_guard lock(answers_mutex_);
    answers.swap(answers_);
    wake_posted_ = false;
  }
  for (auto& [on_answer, result] : answers)
    on_answer(std::move(result));
}

}  // namespace facts::http
