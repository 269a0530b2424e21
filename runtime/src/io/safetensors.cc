//===- safetensors.cc - reading and writing .safetensors files ------------===//

#include "io/safetensors.h"

#include "base/file_util.h"
#include "base/status_macros.h"
#include "io/json.h"
#include "io/program_info.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace palmrt {
namespace {

// Headers of real checkpoints are kilobytes; this bounds what a corrupt
// length field can make us allocate.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

bool dtypeFromSafetensors(absl::string_view name, int32_t *out) {
  static const std::pair<const char *, int32_t> kTable[] = {
      {"F32", PALMRT_F32},
      {"BF16", PALMRT_BF16},
      {"I32", PALMRT_I32},
      {"I64", PALMRT_I64}};
  for (const auto &[text, dtype] : kTable)
    if (name == text) {
      *out = dtype;
      return true;
    }
  return false;
}

} // namespace

const char *safetensorsDtype(int32_t dtype) {
  switch (dtype) {
  case PALMRT_F32:
    return "F32";
  case PALMRT_BF16:
    return "BF16";
  case PALMRT_I32:
    return "I32";
  case PALMRT_I64:
    return "I64";
  default:
    return "?";
  }
}

std::string shapeString(const std::vector<int64_t> &shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status writeSafetensors(
    const std::string &path, const std::vector<TensorView> &tensors,
    const std::vector<std::pair<std::string, std::string>> &metadata,
    FileChecksum *sum) {
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata.size(); ++i)
      absl::StrAppend(&header, i ? "," : "", jsonQuote(metadata[i].first), ":",
                      jsonQuote(metadata[i].second));
    header += "}";
  }
  uint64_t offset = 0;
  std::vector<absl::string_view> pieces;
  for (const TensorView &t : tensors) {
    int64_t bytes = dtypeBytes(t.dtype);
    for (int64_t d : t.shape)
      bytes *= d;
    absl::StrAppend(&header, header.size() > 1 ? "," : "", jsonQuote(t.name),
                    ":{\"dtype\":\"", safetensorsDtype(t.dtype),
                    "\",\"shape\":[", absl::StrJoin(t.shape, ","),
                    "],\"data_offsets\":[", offset, ",", offset + bytes, "]}");
    offset += bytes;
    pieces.emplace_back(static_cast<const char *>(t.data), bytes);
  }
  header += "}";
  // Pad with spaces so the data starts 8-byte aligned.
  header.append((8 - header.size() % 8) % 8, ' ');
  char length[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    length[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  pieces.insert(pieces.begin(), header);
  pieces.insert(pieces.begin(), absl::string_view(length, 8));
  return writeFileAtomically(path, pieces, sum);
}

/// Checks one tensor's header entry against the `dataSize` bytes of data.
static absl::StatusOr<SafetensorsFile::Entry>
parseEntry(const std::string &name, const Json &json, uint64_t dataSize) {
  JsonNode value(json, absl::StrCat("tensor '", name, "'"));
  SafetensorsFile::Entry e;
  PALMRT_ASSIGN_OR_RETURN(JsonNode dtypeNode, value.get("dtype"));
  PALMRT_ASSIGN_OR_RETURN(std::string dtype, dtypeNode.string());
  if (!dtypeFromSafetensors(dtype, &e.dtype))
    return value.error(absl::StrCat("unsupported dtype '", dtype,
                                    "' (F32, BF16, I32, I64 are)"));
  PALMRT_ASSIGN_OR_RETURN(JsonNode shapeNode, value.get("shape"));
  PALMRT_ASSIGN_OR_RETURN(e.shape, shapeNode.integers(0, INT64_MAX));
  uint64_t bytes = static_cast<uint64_t>(dtypeBytes(e.dtype));
  for (int64_t d : e.shape)
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes))
      return value.error(absl::StrCat("shape ", shapeString(e.shape),
                                      " has more bytes than 2^64"));
  PALMRT_ASSIGN_OR_RETURN(JsonNode offsetNode, value.get("data_offsets"));
  PALMRT_ASSIGN_OR_RETURN(std::vector<JsonNode> offsets, offsetNode.elements());
  if (offsets.size() != 2)
    return offsetNode.error("expected [begin, end]");
  PALMRT_ASSIGN_OR_RETURN(e.begin, offsets[0].unsignedInteger());
  PALMRT_ASSIGN_OR_RETURN(e.end, offsets[1].unsignedInteger());
  if (e.begin > e.end || e.end > dataSize)
    return value.error(absl::StrCat("data_offsets [", e.begin, ", ", e.end,
                                    "] outside the ", dataSize,
                                    " bytes of data (truncated file?)"));
  if (e.end - e.begin != bytes)
    return value.error(absl::StrCat("holds ", e.end - e.begin,
                                    " bytes but shape ", shapeString(e.shape),
                                    " of ", dtype, " needs ", bytes));
  return e;
}

absl::Status SafetensorsFile::readMetadata(const Json &json) {
  JsonNode value(json, "__metadata__");
  PALMRT_ASSIGN_OR_RETURN(auto members, value.members());
  for (const auto &[key, text] : members) {
    PALMRT_ASSIGN_OR_RETURN(meta[key], text.string());
  }
  return absl::OkStatus();
}

SafetensorsFile::~SafetensorsFile() {
  if (fd >= 0)
    close(fd);
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>>
SafetensorsFile::open(const std::string &path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path = path;
  auto bad = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(path, ": ", what));
  };
  file->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file->fd < 0)
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  struct stat st;
  if (fstat(file->fd, &st) != 0)
    return bad(std::strerror(errno));
  uint64_t fileSize = static_cast<uint64_t>(st.st_size);
  unsigned char length[8];
  if (fileSize < 8 || pread(file->fd, length, 8, 0) != 8)
    return bad("too short to be a safetensors file");
  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = (headerSize << 8) | length[i];
  if (headerSize > kMaxHeaderBytes || headerSize > fileSize - 8)
    return bad(absl::StrCat("header length ", headerSize,
                            " does not fit the file (", fileSize,
                            " bytes); not a safetensors file, or truncated"));
  std::string header(headerSize, '\0');
  if (pread(file->fd, header.data(), headerSize, 8) !=
      static_cast<ssize_t>(headerSize))
    return bad("cannot read the header");
  auto json = parseJson(header);
  if (!json.ok())
    return bad(absl::StrCat("header: ", json.status().message()));
  if (!json->is_object())
    return bad("header is not a JSON object");
  file->dataStart = 8 + headerSize;
  uint64_t dataSize = fileSize - file->dataStart;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = json->begin(); it != json->end(); ++it) {
    const std::string &name = it.key();
    if (name == "__metadata__") {
      if (absl::Status s = file->readMetadata(*it); !s.ok())
        return bad(s.message());
      continue;
    }
    auto entry = parseEntry(name, *it, dataSize);
    if (!entry.ok())
      return bad(entry.status().message());
    ranges.emplace_back(entry->begin, entry->end);
    file->tensors.emplace(name, *std::move(entry));
  }
  std::sort(ranges.begin(), ranges.end());
  uint64_t covered = 0;
  for (const auto &[begin, end] : ranges) {
    if (begin != covered)
      return bad(begin < covered ? "tensors overlap"
                                 : "data has a hole between tensors");
    covered = end;
  }
  if (covered != dataSize)
    return bad(
        absl::StrCat(dataSize - covered, " bytes after the last tensor"));
  return file;
}

const SafetensorsFile::Entry *
SafetensorsFile::find(const std::string &name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

absl::Status SafetensorsFile::read(const std::string &name, int32_t dtype,
                                   const std::vector<int64_t> &shape,
                                   void *out) const {
  const Entry *e = find(name);
  return readBytes(name, dtype, shape, 0, e ? e->end - e->begin : 0, out);
}

absl::Status SafetensorsFile::readBytes(const std::string &name, int32_t dtype,
                                        const std::vector<int64_t> &shape,
                                        uint64_t begin, uint64_t size,
                                        void *out) const {
  const Entry *e = find(name);
  if (!e)
    return absl::NotFoundError(absl::StrCat(path, ": no tensor '", name, "'"));
  if (e->dtype != dtype)
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": tensor '", name, "' is ", safetensorsDtype(e->dtype),
        " but the program expects ", safetensorsDtype(dtype)));
  if (e->shape != shape)
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": tensor '", name, "' has shape ", shapeString(e->shape),
        " but the program expects ", shapeString(shape)));
  if (begin > e->end - e->begin || size > e->end - e->begin - begin)
    return absl::OutOfRangeError(absl::StrCat(
        path, ": tensor '", name, "': bytes [", begin, ", ", begin + size,
        ") are outside its ", e->end - e->begin));
  char *dst = static_cast<char *>(out);
  uint64_t left = size, at = dataStart + e->begin + begin;
  while (left > 0) {
    ssize_t n = pread(fd, dst, left, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return absl::DataLossError(absl::StrCat(
          path, ": tensor '", name,
          "': read failed: ", n < 0 ? std::strerror(errno) : "unexpected end"));
    dst += n;
    at += static_cast<uint64_t>(n);
    left -= static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

} // namespace palmrt
