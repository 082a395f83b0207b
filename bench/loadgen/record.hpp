#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace loadgen {

/**
 * Represents one measured case as a line of `key=value` words after `record`, the form the
 * session prints and the table reads back: `record table=pinned label=factsd case=max ...`.
 * Values hold no spaces.
 */
class record {
 public:
  void set(std::string const& key, std::string value);
  void set(std::string const& key, double value, int decimals);

  std::string get(std::string const& key) const;  ///< "" when absent
  std::optional<double> number(std::string const& key) const;

  std::string line() const;
  static std::optional<record> parse(std::string const& line);

 private:
  std::vector<std::pair<std::string, std::string>> fields_;  // in the order set
};

/// Every record line in these files (other lines are skipped).
std::vector<record> read_records(std::vector<std::string> const& paths);

}  // namespace loadgen
