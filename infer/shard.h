// Splitting a batch job among independent workers without coordination (Slurm --array, a
// Kubernetes Indexed Job, GNU parallel): worker I of N takes the files whose key (the path relative
// to the input folder, or the line of the input list) hashes to I mod N. A file's shard depends on
// its own key only, so adding files never moves the others to another shard.
#pragma once
#include <cstdint>
#include <string>

namespace nst {

struct Shard {
  int64_t index = 0, count = 1;  // 0 <= index < count
  bool whole() const { return count == 1; }
  std::string label() const;  // "I/N"
};

// "I/N" (0-based I, as SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX count); throws one line naming `option`.
Shard parse_shard(const std::string& text, const std::string& option);

// 64-bit FNV-1a of the key's bytes, finalized as in MurmurHash3: the same on every machine and
// standard library (std::hash is not).
uint64_t stable_hash(const std::string& key);

bool in_shard(const std::string& key, const Shard& shard);

}  // namespace nst
