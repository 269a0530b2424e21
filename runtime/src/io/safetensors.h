//===- safetensors.h - reading and writing .safetensors files ---*- C++ -*-===//
//
// The format: an 8-byte little-endian header length N, N bytes of JSON
// ({name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
// {string: string}}), then the tensors' bytes, offsets relative to the end of
// the header. Files are written atomically; on open, the header is checked
// completely (dtypes, shapes against byte sizes, offsets inside the file, no
// overlaps or holes) so a truncated or corrupt file fails before any use, with
// a message naming the file and the tensor.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_IO_SAFETENSORS_H
#define PALMRT_SRC_IO_SAFETENSORS_H

#include "base/file_util.h"
#include "palmrt/palmrt.h"

#include "absl/status/statusor.h"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace palmrt {

/// The safetensors spelling of a dtype ("F32", "BF16", "I32", "I64").
const char *safetensorsDtype(int32_t dtype);

struct TensorView {
  std::string name;
  int32_t dtype;
  std::vector<int64_t> shape;
  const void *data;
};

/// Writes `tensors` (in order) and `metadata` to `path` atomically; with
/// `sum`, also the file's checksum.
absl::Status writeSafetensors(
    const std::string &path, const std::vector<TensorView> &tensors,
    const std::vector<std::pair<std::string, std::string>> &metadata = {},
    FileChecksum *sum = nullptr);

class SafetensorsFile {
public:
  struct Entry {
    int32_t dtype;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };

  /// Opens and verifies `path`.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>>
  open(const std::string &path);
  ~SafetensorsFile();

  const Entry *find(const std::string &name) const;
  const std::map<std::string, Entry> &entries() const { return tensors; }
  const std::map<std::string, std::string> &metadata() const { return meta; }

  /// Reads tensor `name` into `out` after checking that it exists with
  /// `dtype` and `shape`.
  absl::Status read(const std::string &name, int32_t dtype,
                    const std::vector<int64_t> &shape, void *out) const;
  /// Reads bytes [begin, begin + size) of tensor `name`'s data (checked as
  /// read() checks it) into `out`.
  absl::Status readBytes(const std::string &name, int32_t dtype,
                         const std::vector<int64_t> &shape, uint64_t begin,
                         uint64_t size, void *out) const;

private:
  SafetensorsFile() = default;
  absl::Status readMetadata(const nlohmann::json &json);
  std::string path;
  int fd = -1;
  uint64_t dataStart = 0;
  std::map<std::string, Entry> tensors;
  std::map<std::string, std::string> meta;
};

/// "[2, 3]".
std::string shapeString(const std::vector<int64_t> &shape);

} // namespace palmrt

#endif // PALMRT_SRC_IO_SAFETENSORS_H
