#include "data/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "core/errors.h"
#include "core/file_checks.h"
#include "data/atomic_file.h"
#include "data/json_strict.h"

namespace nst {
namespace {

struct DtypeInfo {
  const char* name;
  torch::ScalarType type;
  int64_t bytes;
};
const DtypeInfo kDtypes[] = {
    {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2}, {"BF16", torch::kBFloat16, 2},
    {"F64", torch::kFloat64, 8}, {"I64", torch::kInt64, 8},   {"I32", torch::kInt32, 4},
    {"U8", torch::kUInt8, 1},
};

const DtypeInfo* dtype_by_name(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}

const DtypeInfo* dtype_by_type(torch::ScalarType type) {
  for (const auto& d : kDtypes)
    if (type == d.type) return &d;
  return nullptr;
}

}  // namespace

SafeTensors read_safetensors(const std::string& path) {
  require_regular_file(path);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw path_error(path, "cannot open file (missing or unreadable)");
  const int64_t file_size = in.tellg();
  if (file_size < 8) throw path_error(path, "not a safetensors file (only " + std::to_string(file_size) + " bytes)");
  in.seekg(0);
  uint8_t len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len == 0 || header_len > static_cast<uint64_t>(file_size - 8))
    throw path_error(path, "not a safetensors file or truncated (header length " + std::to_string(header_len) +
                         " exceeds file size " + std::to_string(file_size) + ")");
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  nlohmann::json json;
  try {
    json = parse_json_strict(header);
  } catch (const std::exception& e) {
    throw path_error(path, std::string("corrupt safetensors header (") + first_line(e.what()) + ")");
  }
  if (!json.is_object()) throw path_error(path, "corrupt safetensors header (not a JSON object)");

  const int64_t data_start = 8 + static_cast<int64_t>(header_len);
  const int64_t data_size = file_size - data_start;
  std::vector<char> data(static_cast<size_t>(data_size));
  in.read(data.data(), data_size);
  if (!in) throw path_error(path, "read error");

  SafeTensors result;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (const auto& [name, entry] : json.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) throw path_error(path, "__metadata__ is not an object");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) throw path_error(path, "__metadata__ value '" + key + "' is not a string");
        result.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      throw path_error(path, where + " lacks dtype, shape or data_offsets");
    if (!entry["dtype"].is_string()) throw path_error(path, where + " has a non-string dtype");
    const DtypeInfo* dtype = dtype_by_name(entry["dtype"].get<std::string>());
    if (!dtype) throw path_error(path, where + " has unsupported dtype " + entry["dtype"].get<std::string>());
    std::vector<int64_t> shape;
    int64_t numel = 1;
    if (!entry["shape"].is_array()) throw path_error(path, where + " has a malformed shape");
    for (const auto& dim : entry["shape"]) {
      if (!dim.is_number_integer() || dim.get<int64_t>() < 0 || dim.get<int64_t>() > (int64_t{1} << 40))
        throw path_error(path, where + " has a malformed shape");
      shape.push_back(dim.get<int64_t>());
      // Checked before multiplying: two dimensions of 2^40 would overflow int64 (UB).
      if (shape.back() > 0 && numel > (int64_t{1} << 40) / shape.back())
        throw path_error(path, where + " has an impossible size");
      numel *= shape.back();
    }
    const auto& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_integer() || !offsets[1].is_number_integer())
      throw path_error(path, where + " has malformed data_offsets");
    const int64_t begin = offsets[0].get<int64_t>(), end = offsets[1].get<int64_t>();
    if (begin < 0 || end < begin || end > data_size)
      throw path_error(path, where + " data [" + std::to_string(begin) + ", " + std::to_string(end) +
                           ") lies outside the file's " + std::to_string(data_size) + " data bytes (truncated?)");
    if (end - begin != numel * dtype->bytes)
      throw path_error(path, where + " byte size " + std::to_string(end - begin) + " does not match its shape and dtype");
    ranges.emplace_back(begin, end);
    auto tensor = torch::empty(shape, torch::TensorOptions().dtype(dtype->type));
    if (numel > 0) std::memcpy(tensor.data_ptr(), data.data() + begin, static_cast<size_t>(end - begin));
    result.tensors[name] = tensor;
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) throw path_error(path, "tensor data ranges overlap (corrupt file)");
  return result;
}

void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> contiguous;
  int64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const DtypeInfo* dtype = dtype_by_type(tensor.scalar_type());
    if (!dtype) throw path_error(path, "cannot store tensor '" + name + "' of dtype " + std::string(c10::toString(tensor.scalar_type())));
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    const int64_t bytes = t.numel() * dtype->bytes;
    header[name] = {{"dtype", dtype->name}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(t);
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');  // align data to 8 bytes, as the reference writer does
  std::string bytes;
  bytes.reserve(8 + header_text.size() + static_cast<size_t>(offset));
  uint64_t len = header_text.size();
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  bytes += header_text;
  for (const auto& t : contiguous)
    bytes.append(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.nbytes()));
  write_bytes_atomically(path, bytes);
}

}  // namespace nst
