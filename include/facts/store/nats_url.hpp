#pragma once

#include <optional>
#include <string>
#include <vector>

namespace facts {

/**
 * Represents a `--store nats://[USER:PASS@|TOKEN@]HOST:PORT[,HOST:PORT...]/STREAM[?replicas=N]`
 * URL, taken apart: where the NATS servers are, how to log in, and the JetStream stream.
 */
struct nats_url {
  std::vector<std::string> servers;  ///< each `nats://HOST:PORT`, for nats.c's server list
  std::string user;                  ///< with `password`; empty when none
  std::string password;
  std::string token;  ///< the user part when it has no `:`; empty when none
  std::string stream;
  int replicas = 1;

  /// The subject the stream holds and factsd publishes on: `facts.<STREAM>`.
  std::string subject() const { return "facts." + stream; }
  /// The URL without its secret, for logs and /status.
  std::string describe() const;
};

/** Represents the outcome of parse_nats_url: the parts, or what was wrong, in one line. */
struct nats_url_result {
  std::optional<nats_url> url;
  std::string error;
};

/**
 * Takes a nats:// store URL apart. The stream name is 1 to 64 of A-Z a-z 0-9 _ -; replicas are 1
 * to 5 (JetStream's bound); a missing port is NATS's 4222. The user part is percent-decoded.
 */
nats_url_result parse_nats_url(std::string const& text);

}  // namespace facts
