#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "facts/commit/committer.hpp"
#include "facts/http/net.hpp"

namespace facts::http {

/**
 * Represents the POSTs of one I/O thread on their way to the writer and back. The facts read
 * in one pass of the thread's event loop go to the writer together, and come back together
 * once all of them are answered: one wake-up each way per batch, not per POST. On a core
 * shared by the two threads every wake-up is a switch away from the I/O thread; waking the
 * writer per POST made its batches about 1.4 facts long. A committer whose facts are answered
 * one by one (a shared log: each waits for its own acknowledgement, a retry may take up to
 * --publish-timeout) gets each answer back as it comes, so a slow fact never holds the others
 * of its pass.
 */
class post_batch {
 public:
  /// Runs on the I/O thread with what became of the fact (nullopt: not stored).
  using answer = std::function<void(std::optional<append_result>)>;

  /// `ioc`: the I/O thread's context, which only that thread runs.
  post_batch(net::io_context& ioc, committer& commits);

  post_batch(post_batch const&) = delete;
  post_batch& operator=(post_batch const&) = delete;

  /// On the I/O thread: queues one fact for the writer; `on_answer` runs exactly once, later.
  void add(append_request fact, answer on_answer);

  /** Represents the writer's completion for one fact: which hand-over, which place in it. Only a
   * hand-over still unanswered is looked up, so a 32-bit flush number that wrapped is unique. */
  struct answer_slot {
    post_batch* batch;
    std::uint32_t flush;
    std::uint32_t index;
    void operator()(std::optional<append_result> result) const;
  };

 private:
  void hand_to_writer();
  void take_answer(std::uint32_t flush, std::uint32_t index, std::optional<append_result> result);
  void give_answers();

  net::io_context& ioc_;
  committer& commits_;
  bool const each_alone_;  // commits_.answers_each_alone()

  /** Represents one hand-over to the writer that is not answered whole yet. */
  struct hand_over {
    std::uint64_t flush;                                ///< its number, in the order handed over
    std::vector<answer> answers;                        ///< what to call, by fact
    std::vector<std::optional<append_result>> results;  ///< what became of each fact
    std::size_t left;                                   ///< facts of it not answered yet
    std::size_t given = 0;  ///< answers already run (answers_each_alone only)
  };

  /// Moves every answer that came and was not run yet out of unanswered_, and drops the
  /// hand-overs whose answers all ran.
  void take_each_answered_locked(std::vector<std::pair<answer, std::optional<append_result>>>& out);

  std::vector<committer::submission> to_writer_;  // the I/O thread's only
  std::vector<answer> to_writer_answers_;         // the I/O thread's only: to_writer_'s answers
  std::uint64_t next_flush_ = 0;                  // the I/O thread's only: to_writer_'s number
  std::mutex answers_mutex_;  // guards unanswered_, wake_posted_ and came_alone_
  // The writer is given an answer_slot per fact; the answer it leads to stays here.
  std::deque<hand_over> unanswered_;
  bool wake_posted_ = false;  // give_answers() is posted and has not taken the answered yet
  // answers_each_alone: the answers that came since give_answers() last took them.
  std::vector<std::pair<hand_over*, std::uint32_t>> came_alone_;
};

}  // namespace facts::http
