#pragma once

namespace facts {

/** Represents how hard a durable store's commit waits for the disk. */
enum class sync_mode {
  full,    ///< fsync before a fact is acknowledged: survives power loss
  normal,  ///< no fsync per commit: survives a crash of factsd, not of the machine
};

}  // namespace facts
