#include "facts/store/sqlite_errors.hpp"

#include <SQLiteCpp/Exception.h>
#include <sqlite3.h>

#include "facts/store/sqlite_store.hpp"

namespace facts {

store_error sqlite_failure(std::string const& path, std::string const& why) {
  return store_error("store " + std::string(sqlite_url_prefix) + path + ": " + why);
}

std::string explain_sqlite_failure(SQLite::Exception const& e) {
  switch (e.getErrorCode()) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return sqlite_locked_message;
    case SQLITE_NOTADB:
      return "file is not a SQLite database";
    case SQLITE_FULL:
      return "no space left on the disk: " + std::string(e.what());
    case SQLITE_CORRUPT:
      return "database is corrupt: " + std::string(e.what());
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
      return "cannot open for writing: " + std::string(e.what());
    default:
      return e.what();
  }
}

}  // namespace facts
