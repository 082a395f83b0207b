#pragma once

#include <SQLiteCpp/Statement.h>

namespace facts {

/**
 * Represents one use of a statement prepared once and kept: it is reset when the use ends,
 * however it ends (the rows read to the end, a row taken and left, an exception). A statement
 * stepped and not reset keeps its connection's read transaction open, and a WAL checkpoint cannot
 * copy past what that transaction still sees, nor start the WAL over; a statement left after an
 * error would hand that error to the next reset(). Bind after taking it: a reset keeps the old
 * bindings, and every use binds each parameter again.
 */
class statement_use {
 public:
  explicit statement_use(SQLite::Statement& statement) : statement_(statement) {}
  statement_use(statement_use const&) = delete;
  statement_use& operator=(statement_use const&) = delete;
  // tryReset(): its result is the last step's error, already thrown or not ours to report here.
  ~statement_use() { statement_.tryReset(); }

  SQLite::Statement& operator*() const { return statement_; }
  SQLite::Statement* operator->() const { return &statement_; }

 private:
  SQLite::Statement& statement_;
};

}  // namespace facts
