#pragma once

#include <string>

#include "facts/store/fact_store.hpp"

namespace SQLite {
class Exception;
}  // namespace SQLite

namespace facts {

/// What a second process holding the database file is told, whichever lock showed it.
inline constexpr char const* sqlite_locked_message =
    "database is locked by another process (is another factsd running on it?)";

/// A failure of the SQLite store on `path`, in the one line every one of them reads as:
/// "store sqlite:PATH: WHY".
store_error sqlite_failure(std::string const& path, std::string const& why);

/// What SQLite threw, worded for an operator: the common causes named, the rest as SQLite says.
std::string explain_sqlite_failure(SQLite::Exception const& e);

}  // namespace facts
