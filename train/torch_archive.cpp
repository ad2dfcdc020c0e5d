#include "train/torch_archive.h"

#include <caffe2/serialize/versions.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>

#include <zlib.h>

#include "core/errors.h"

namespace nst {
namespace {

class Damaged : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Little-endian reads that never leave `bytes`.
uint64_t read_le(std::string_view bytes, uint64_t at, int size) {
  if (at > bytes.size() || static_cast<uint64_t>(size) > bytes.size() - at) throw Damaged("record past the end of the file");
  uint64_t value = 0;
  for (int i = size - 1; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(bytes[at + i]);
  return value;
}

uint32_t crc_of(std::string_view data) {
  return static_cast<uint32_t>(::crc32(0L, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
}

// A deflated entry's contents (raw deflate, as zip stores it): LibTorch deflates the TorchScript
// code records and its miniz does not check their CRC-32, so they are inflated and checked here.
std::string inflate_entry(const std::string& name, std::string_view packed, uint64_t size) {
  constexpr uint64_t kMaxRatio = 1032;  // deflate's limit: no valid stream expands further
  if (size > packed.size() * kMaxRatio + 64) throw Damaged("entry '" + name + "' claims an impossible size");
  std::string out(size, '\0');
  z_stream stream{};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) throw std::bad_alloc();
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(packed.data()));
  stream.avail_in = static_cast<uInt>(packed.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&stream, Z_FINISH);
  const bool whole = rc == Z_STREAM_END && stream.total_out == size;
  inflateEnd(&stream);
  if (!whole) throw Damaged("entry '" + name + "' does not inflate to its size");
  return out;
}

struct Directory {
  uint64_t entries = 0, offset = 0, size = 0;
};

// The end-of-central-directory record (searched backwards like miniz), and the zip64 one that
// LibTorch always writes after it is located.
Directory find_directory(std::string_view bytes) {
  constexpr uint64_t kEndSize = 22, kMaxComment = 0xFFFF;
  if (bytes.size() < kEndSize) throw Damaged("too short for a zip archive");
  const uint64_t lowest = bytes.size() > kEndSize + kMaxComment ? bytes.size() - kEndSize - kMaxComment : 0;
  for (uint64_t at = bytes.size() - kEndSize + 1; at-- > lowest;) {
    if (read_le(bytes, at, 4) != 0x06054b50) continue;
    Directory dir{read_le(bytes, at + 10, 2), read_le(bytes, at + 16, 4), read_le(bytes, at + 12, 4)};
    if (at >= 20 && read_le(bytes, at - 20, 4) == 0x07064b50) {  // zip64 locator
      const uint64_t record = read_le(bytes, at - 20 + 8, 8);
      if (read_le(bytes, record, 4) != 0x06064b50) throw Damaged("bad zip64 end record");
      dir = {read_le(bytes, record + 32, 8), read_le(bytes, record + 48, 8), read_le(bytes, record + 40, 8)};
    }
    if (dir.offset > bytes.size() || dir.size > bytes.size() - dir.offset) throw Damaged("central directory past the end");
    return dir;
  }
  throw Damaged("no end of central directory (truncated?)");
}

// One central-directory entry at `at`; checks its local header and data; returns the next entry's offset.
uint64_t check_entry(std::string_view bytes, uint64_t at, std::string& name, std::string_view& data) {
  if (read_le(bytes, at, 4) != 0x02014b50) throw Damaged("bad central directory entry");
  const uint64_t flags = read_le(bytes, at + 8, 2), method = read_le(bytes, at + 10, 2), crc = read_le(bytes, at + 16, 4);
  const uint64_t packed = read_le(bytes, at + 20, 4), size = read_le(bytes, at + 24, 4);
  const uint64_t name_len = read_le(bytes, at + 28, 2), extra_len = read_le(bytes, at + 30, 2);
  const uint64_t comment_len = read_le(bytes, at + 32, 2), local = read_le(bytes, at + 42, 4);
  read_le(bytes, at + 46, static_cast<int>(std::min<uint64_t>(name_len, 8)));  // the name is inside the file
  name = std::string(bytes.substr(at + 46, name_len));
  if (name.size() != name_len) throw Damaged("entry name past the end");
  // LibTorch stores tensors and records (method 0) and deflates code (8); a checkpoint never needs
  // zip64 sizes (each entry < 4 GiB).
  const bool stored = method == 0;
  if ((!stored && method != 8) || (stored && packed != size) || packed == 0xFFFFFFFF || local == 0xFFFFFFFF)
    throw Damaged("entry '" + name + "' has an unknown compression or zip64 sizes");
  // Only the flags LibTorch writes (data descriptor, UTF-8 names, deflate level): miniz refuses
  // encrypted, patched or masked entries only when reading them, after LibTorch has leaked its state.
  constexpr uint64_t kKnownFlags = 0x0800 | 0x0008 | 0x0006;
  if (flags & ~kKnownFlags) throw Damaged("entry '" + name + "' has unsupported zip flags (encrypted?)");
  if (read_le(bytes, local, 4) != 0x04034b50) throw Damaged("entry '" + name + "' has a bad local header");
  const uint64_t begin = local + 30 + read_le(bytes, local + 26, 2) + read_le(bytes, local + 28, 2);
  if (begin > bytes.size() || packed > bytes.size() - begin) throw Damaged("entry '" + name + "' data past the end");
  if (stored) {
    data = bytes.substr(begin, size);
    if (crc_of(data) != crc) throw Damaged("entry '" + name + "' fails its CRC-32");
  } else {
    data = {};  // only stored records are read further (the version)
    if (crc_of(inflate_entry(name, bytes.substr(begin, packed), size)) != crc)
      throw Damaged("entry '" + name + "' fails its CRC-32");
  }
  return at + 46 + name_len + extra_len + comment_len;
}

void check(std::string_view bytes) {
  const Directory dir = find_directory(bytes);
  if (dir.entries == 0) throw Damaged("no entries");
  std::string folder;
  std::set<std::string> names;
  bool version_ok = false;
  uint64_t at = dir.offset;
  for (uint64_t i = 0; i < dir.entries; ++i) {
    std::string name;
    std::string_view data;
    at = check_entry(bytes, at, name, data);
    if (!names.insert(name).second) throw Damaged("entry '" + name + "' appears twice");
    const size_t slash = name.find('/');
    if (slash == std::string::npos) throw Damaged("entry '" + name + "' is not in a folder");
    if (i == 0) folder = name.substr(0, slash + 1);
    if (name.compare(0, folder.size(), folder) != 0) continue;  // LibTorch ignores other folders
    const std::string record = name.substr(folder.size());
    if (record != "version" && record != ".data/version") continue;
    if (data.empty()) throw Damaged("version record is empty or compressed");
    const std::string text(data.substr(0, data.find_last_not_of("\n\r ") + 1));
    if (text.empty() || text.size() > 4 || text.find_first_not_of("0123456789") != std::string::npos)
      throw Damaged("version record '" + text.substr(0, 16) + "' is not a number");
    const uint64_t version = std::stoull(text);
    if (version < caffe2::serialize::kMinSupportedFileFormatVersion ||
        version > caffe2::serialize::kMaxSupportedFileFormatVersion)
      throw Damaged("archive version " + text + " is not supported by this LibTorch");
    version_ok = true;
  }
  if (!version_ok) throw Damaged("no version record");
}

}  // namespace

void check_torch_archive(const std::string& path, std::string_view bytes) {
  try {
    check(bytes);
  } catch (const Damaged& e) {
    throw path_error(path, std::string("not a checkpoint archive or damaged (") + e.what() + ")");
  }
}

}  // namespace nst
