#include "facts/http/post_batch.hpp"

namespace facts::http {

post_batch::post_batch(net::io_context& ioc, fact_writer& writer) : ioc_(ioc), writer_(writer) {}

void post_batch::add(append_request fact, answer on_answer) {
  // Posted behind the handlers already due in this pass, so the POSTs they read join it.
  if (to_writer_.empty()) net::post(ioc_, [this] { hand_to_writer(); });
  to_writer_.push_back({std::move(fact), [this, on_answer = std::move(on_answer)](
                                             std::optional<append_result> result) mutable {
                          take_answer(std::move(on_answer), std::move(result));
                        }});
}

void post_batch::hand_to_writer() {
  std::vector<fact_writer::submission> batch;
  batch.swap(to_writer_);
  writer_.submit_all(std::move(batch));
}

void post_batch::take_answer(answer on_answer, std::optional<append_result> result) {
  bool first = false;
  {
    std::lock_guard lock(answers_mutex_);
    first = answers_.empty();
    answers_.emplace_back(std::move(on_answer), std::move(result));
  }
  // The writer answers a batch in a row: only the first answer wakes the I/O thread.
  if (first) net::post(ioc_, [this] { give_answers(); });
}

void post_batch::give_answers() {
  std::vector<std::pair<answer, std::optional<append_result>>> answers;
  {
    std::lock_guard lock(answers_mutex_);
    answers.swap(answers_);
  }
  for (auto& [on_answer, result] : answers)
    on_answer(std::move(result));
}

}  // namespace facts::http
