#include "infer/shard.h"

#include <regex>
#include <stdexcept>

namespace nst {

std::string Shard::label() const { return std::to_string(index) + "/" + std::to_string(count); }

Shard parse_shard(const std::string& text, const std::string& option) {
  static const std::regex pattern("([0-9]{1,9})/([0-9]{1,9})");
  std::smatch match;
  Shard shard;
  if (std::regex_match(text, match, pattern)) {
    shard.index = std::stoll(match[1]);
    shard.count = std::stoll(match[2]);
    if (shard.count >= 1 && shard.index < shard.count) return shard;
  }
  throw std::runtime_error(option + " must be I/N with 0 <= I < N (e.g. 0/4 ... 3/4), got '" + text + "'");
}

uint64_t stable_hash(const std::string& key) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (const unsigned char byte : key) {
    hash ^= byte;
    hash *= 0x100000001b3ull;
  }
  // MurmurHash3's finalizer: FNV-1a's low bits alone (all that `% N` sees) mix poorly.
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdull;
  hash ^= hash >> 33;
  hash *= 0xc4ceb9fe1a85ec53ull;
  hash ^= hash >> 33;
  return hash;
}

bool in_shard(const std::string& key, const Shard& shard) {
  return shard.whole() || stable_hash(key) % static_cast<uint64_t>(shard.count) == static_cast<uint64_t>(shard.index);
}

}  // namespace nst
