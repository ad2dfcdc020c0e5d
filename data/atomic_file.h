// Atomic file writes: everything the tools write goes to a temporary file beside the target and is
// renamed over it only when complete, so a crash never leaves a half-written model, checkpoint or image.
#pragma once
#include <functional>
#include <string>
#include <string_view>

namespace nst {

// A temporary path in the same directory as `path`, keeping its extension (encoders pick formats by it).
std::string temporary_path_for(const std::string& path);

// Calls write(tmp) and renames tmp over `path`; removes tmp and rethrows if write throws.
void write_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write);

void write_bytes_atomically(const std::string& path, std::string_view bytes);

// Removes the temporary files that writers killed mid-write (kill -9, power loss) left in `directory`:
// names made by temporary_path_for whose process is gone. Returns how many were removed.
int remove_stale_temporaries(const std::string& directory);

}  // namespace nst
