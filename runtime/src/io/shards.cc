//===- shards.cc - sharded tensor sets on disk ----------------------------===//
//
// Reading with re-partitioning: rank r needs, of each tensor, the global
// region its local shard covers (padding aside). Every saved rank whose
// shard overlaps it contributes the overlap; of the saved ranks holding the
// same copy (replicas along the axes that do not split the tensor), only
// the first (coordinate 0 on those axes) is read, and of its shard only the
// contiguous slab of outermost rows the overlap spans.
//
//===----------------------------------------------------------------------===//

#include "io/shards.h"

#include "base/layout.h"
#include "base/status_macros.h"
#include "io/safetensors.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>

namespace palmrt {
namespace {

std::string quotedList(const std::vector<std::string> &items) {
  std::vector<std::string> quoted;
  for (const std::string &s : items)
    quoted.push_back(jsonQuote(s));
  return absl::StrCat("[", absl::StrJoin(quoted, ", "), "]");
}

std::vector<std::string> axisNames(const std::vector<std::string> &names,
                                   const std::vector<int32_t> &axes) {
  std::vector<std::string> out;
  for (int32_t a : axes)
    out.push_back(names[a]);
  return out;
}

const char *kindName(TensorKind kind) {
  switch (kind) {
  case TensorKind::Param:
    return "param";
  case TensorKind::State:
    return "state";
  default:
    return "";
  }
}

/// The global region [lo, hi) that `rank`'s local shard of `t` holds.
struct Region {
  std::vector<int64_t> lo, hi;
  bool empty() const {
    for (size_t d = 0; d < lo.size(); ++d)
      if (hi[d] <= lo[d])
        return true;
    return false;
  }
};

Region regionOf(const ProgramInfo &mesh, const TensorSpec &t, int64_t rank) {
  Region r;
  r.lo = shardOffsets(mesh, t, rank);
  for (size_t d = 0; d < r.lo.size(); ++d)
    r.hi.push_back(std::max(
        r.lo[d], std::min(r.lo[d] + t.localShape[d], t.globalShape[d])));
  return r;
}

Region intersect(const Region &a, const Region &b) {
  Region r;
  for (size_t d = 0; d < a.lo.size(); ++d) {
    r.lo.push_back(std::max(a.lo[d], b.lo[d]));
    r.hi.push_back(std::min(a.hi[d], b.hi[d]));
  }
  return r;
}

/// Whether `rank` is the first of the replicas of its shard of `t`: its
/// coordinate is 0 on every mesh axis that does not split `t`.
bool firstReplica(const ProgramInfo &mesh, const TensorSpec &t,
                  int64_t rank) {
  std::set<int32_t> splitting;
  for (const auto &axes : t.sharding)
    splitting.insert(axes.begin(), axes.end());
  for (int32_t a = 0; a < static_cast<int32_t>(mesh.meshShape.size()); ++a)
    if (!splitting.count(a) && indexInGroup(mesh, rank, {a}) != 0)
      return false;
  return true;
}

/// Whether the saved entry is laid out exactly as the program's tensor on the
/// same mesh (then rank r's shard is file r's tensor, read whole).
bool sameLayout(const ShardIndex &index, const ShardIndex::Entry &e,
                const ProgramInfo &info, const TensorSpec &t) {
  if (index.axisNames != info.axisNames || index.meshShape != info.meshShape ||
      e.localShape != t.localShape || e.sharding.size() != t.sharding.size())
    return false;
  for (size_t d = 0; d < t.sharding.size(); ++d)
    if (e.sharding[d] != t.sharding[d])
      return false;
  return true;
}

/// One saved rank's contribution to one tensor of this rank.
struct Piece {
  int64_t file;
  Region region;
};

/// What rank `rank` reads of `t`: the whole file `rank` (same layout), or
/// pieces.
struct Plan {
  bool direct = false;
  std::vector<Piece> pieces;
};

absl::StatusOr<const ShardIndex::Entry *>
entryFor(const ShardIndex &index, const TensorSpec &t) {
  auto it = index.tensors.find(t.name);
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(index.path, ": tensor '", t.name, "' ", what));
  };
  if (it == index.tensors.end())
    return absl::InvalidArgumentError(
        absl::StrCat(index.path, ": no tensor '", t.name, "'"));
  const ShardIndex::Entry &e = it->second;
  if (e.dtype != t.dtype)
    return error(absl::StrCat("is ", dtypeName(e.dtype), " but the program's is ",
                              dtypeName(t.dtype)));
  if (e.globalShape != t.globalShape)
    return error(absl::StrCat("has global shape ", shapeString(e.globalShape),
                              " but the program's is ",
                              shapeString(t.globalShape)));
  return &e;
}

Plan planTensor(const ShardIndex &index, const ShardIndex::Entry &e,
                const ProgramInfo &info, const TensorSpec &t, int64_t rank) {
  Plan plan;
  if (sameLayout(index, e, info, t)) {
    plan.direct = true;
    return plan;
  }
  Region wanted = regionOf(info, t, rank);
  if (wanted.empty())
    return plan;
  ProgramInfo saved = index.meshInfo();
  TensorSpec savedSpec = index.spec(t.name, e);
  for (int64_t r = 0; r < index.numDevices(); ++r) {
    if (!firstReplica(saved, savedSpec, r))
      continue;
    Region overlap = intersect(wanted, regionOf(saved, savedSpec, r));
    if (!overlap.empty())
      plan.pieces.push_back({r, overlap});
  }
  return plan;
}

absl::Status parseEntry(const JsonNode &node, ShardIndex &index,
                        ShardIndex::Entry &e) {
  PALMRT_ASSIGN_OR_RETURN(std::string dtype, node.getString("dtype"));
  e.dtype = -1;
  for (int32_t d : {PALMRT_F32, PALMRT_BF16, PALMRT_I32, PALMRT_I64})
    if (dtype == dtypeName(d))
      e.dtype = d;
  if (e.dtype < 0)
    return node.error(absl::StrCat("unknown dtype '", dtype, "'"));
  PALMRT_ASSIGN_OR_RETURN(e.globalShape,
                          node.getIntegers("global_shape", 0, INT64_MAX));
  PALMRT_ASSIGN_OR_RETURN(e.localShape,
                          node.getIntegers("local_shape", 0, INT64_MAX));
  PALMRT_ASSIGN_OR_RETURN(JsonNode sharding, node.get("sharding"));
  PALMRT_ASSIGN_OR_RETURN(std::vector<JsonNode> dims, sharding.elements());
  if (e.globalShape.size() != e.localShape.size() ||
      dims.size() != e.globalShape.size())
    return node.error("global_shape, local_shape and sharding differ in rank");
  std::set<int32_t> used;
  for (size_t d = 0; d < dims.size(); ++d) {
    PALMRT_ASSIGN_OR_RETURN(std::vector<std::string> names, dims[d].strings());
    int64_t parts = 1;
    std::vector<int32_t> axes;
    for (const std::string &name : names) {
      auto it = std::find(index.axisNames.begin(), index.axisNames.end(), name);
      if (it == index.axisNames.end())
        return dims[d].error(absl::StrCat("no mesh axis '", name, "'"));
      int32_t a = static_cast<int32_t>(it - index.axisNames.begin());
      if (!used.insert(a).second)
        return dims[d].error(absl::StrCat("axis '", name, "' used twice"));
      axes.push_back(a);
      parts *= index.meshShape[a];
    }
    // The layout every writer uses: ceil(global / parts) per shard.
    if (e.localShape[d] != (e.globalShape[d] + parts - 1) / parts)
      return node.error(absl::StrCat(
          "local_shape[", d, "] = ", e.localShape[d], " is not ceil(",
          e.globalShape[d], " / ", parts, ")"));
    e.sharding.push_back(std::move(axes));
  }
  if (auto kind = node.find("kind"); kind.ok() && *kind) {
    PALMRT_ASSIGN_OR_RETURN(e.kind, (*kind)->string());
  }
  return absl::OkStatus();
}

absl::Status parseChecksums(const JsonNode &node, ShardIndex &index) {
  index.checksums.assign(index.files.size(), std::nullopt);
  PALMRT_ASSIGN_OR_RETURN(auto members, node.members());
  for (const auto &[file, value] : members) {
    auto it = std::find(index.files.begin(), index.files.end(), file);
    if (it == index.files.end())
      return value.error("names no file of \"files\"");
    FileChecksum sum;
    PALMRT_ASSIGN_OR_RETURN(std::string hex, value.getString("crc32"));
    if (hex.size() != 8 ||
        std::sscanf(hex.c_str(), "%8x", &sum.crc32) != 1)
      return value.error("crc32 must be 8 hexadecimal digits");
    PALMRT_ASSIGN_OR_RETURN(sum.bytes,
                            value.getInteger("bytes", 0, INT64_MAX));
    index.checksums[it - index.files.begin()] = sum;
  }
  return absl::OkStatus();
}

} // namespace

std::string shardFileName(const std::string &prefix, int64_t rank) {
  return absl::StrFormat("%s-rank%05d.safetensors", prefix, rank);
}

std::string shardIndexJson(const ProgramInfo &info,
                           const std::vector<const TensorSpec *> &tensors,
                           const std::string &prefix, const std::string &run,
                           const std::vector<FileChecksum> &checksums) {
  std::vector<std::string> files;
  for (int64_t r = 0; r < info.numDevices(); ++r)
    files.push_back(shardFileName(prefix, r));
  std::string out =
      absl::StrCat("{\n  \"format\": \"palm-shards\",\n  \"version\": 1,\n",
                   "  \"mesh\": {\"axes\": ", quotedList(info.axisNames),
                   ", \"shape\": [", absl::StrJoin(info.meshShape, ", "),
                   "]},\n", "  \"files\": ", quotedList(files), ",\n");
  if (!checksums.empty()) {
    out += "  \"checksums\": {";
    for (size_t r = 0; r < checksums.size(); ++r)
      absl::StrAppendFormat(&out, "%s\n    %s: {\"crc32\": \"%08x\", "
                                  "\"bytes\": %d}",
                            r ? "," : "", jsonQuote(files[r]),
                            checksums[r].crc32, checksums[r].bytes);
    out += "\n  },\n";
  }
  if (!run.empty())
    absl::StrAppend(&out, "  \"run\": {", run, "},\n");
  out += "  \"tensors\": {";
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorSpec &t = *tensors[i];
    std::vector<std::string> dims;
    for (const auto &axes : t.sharding)
      dims.push_back(quotedList(axisNames(info.axisNames, axes)));
    absl::StrAppend(&out, i ? "," : "", "\n    ", jsonQuote(t.name),
                    ": {\"dtype\": \"", dtypeName(t.dtype),
                    "\", \"global_shape\": [",
                    absl::StrJoin(t.globalShape, ", "), "], \"local_shape\": [",
                    absl::StrJoin(t.localShape, ", "), "], \"sharding\": [",
                    absl::StrJoin(dims, ", "), "]");
    if (*kindName(t.kind))
      absl::StrAppend(&out, ", \"kind\": \"", kindName(t.kind), "\"");
    out += "}";
  }
  out += "\n  }\n}\n";
  return out;
}

absl::Status writeShardFile(const std::string &dir, const std::string &prefix,
                            const ProgramInfo &info, int64_t rank,
                            const std::vector<const TensorSpec *> &tensors,
                            const std::vector<const void *> &buffers,
                            FileChecksum *sum) {
  std::vector<TensorView> views;
  for (size_t i = 0; i < tensors.size(); ++i)
    views.push_back({tensors[i]->name, tensors[i]->dtype,
                     tensors[i]->localShape, buffers[i]});
  return writeSafetensors(joinPath(dir, shardFileName(prefix, rank)), views,
                          {{"format", "palm-shards"},
                           {"rank", absl::StrCat(rank)},
                           {"mesh", info.meshString()}},
                          sum);
}

absl::Status writeShards(const std::string &dir, const std::string &prefix,
                         const ProgramInfo &info, int64_t rank,
                         const std::vector<const TensorSpec *> &tensors,
                         const std::vector<const void *> &buffers,
                         const std::string &run) {
  PALMRT_RETURN_IF_ERROR(makeDirectories(dir));
  PALMRT_RETURN_IF_ERROR(
      writeShardFile(dir, prefix, info, rank, tensors, buffers));
  if (rank != 0)
    return absl::OkStatus();
  return writeFileAtomically(joinPath(dir, prefix + ".index.json"),
                             shardIndexJson(info, tensors, prefix, run));
}

ProgramInfo ShardIndex::meshInfo() const {
  ProgramInfo mesh;
  mesh.axisNames = axisNames;
  mesh.meshShape = meshShape;
  return mesh;
}

TensorSpec ShardIndex::spec(const std::string &name, const Entry &e) const {
  TensorSpec t;
  t.name = name;
  t.dtype = static_cast<palmrt_dtype>(e.dtype);
  t.globalShape = e.globalShape;
  t.localShape = e.localShape;
  t.sharding = e.sharding;
  return t;
}

absl::StatusOr<ShardIndex> readShardIndex(const std::string &dir,
                                          const std::string &prefix) {
  ShardIndex index;
  index.dir = dir;
  index.path = joinPath(dir, prefix + ".index.json");
  PALMRT_ASSIGN_OR_RETURN(std::string text, readFile(index.path));
  auto parsed = parseJson(text);
  if (!parsed.ok())
    return absl::InvalidArgumentError(
        absl::StrCat(index.path, ": ", parsed.status().message()));
  index.json = *std::move(parsed);
  JsonNode root(index.json, index.path);
  if (!index.json.is_object() ||
      root.getString("format").value_or("") != "palm-shards" ||
      root.getInteger("version", 1, 1).value_or(0) != 1)
    return root.error("not a palm-shards index of version 1");
  PALMRT_ASSIGN_OR_RETURN(JsonNode mesh, root.get("mesh"));
  PALMRT_ASSIGN_OR_RETURN(index.axisNames, mesh.getStrings("axes"));
  PALMRT_ASSIGN_OR_RETURN(index.meshShape,
                          mesh.getIntegers("shape", 1, INT64_MAX));
  if (index.axisNames.size() != index.meshShape.size())
    return mesh.error("axes and shape differ in length");
  int64_t devices = 1;
  for (int64_t n : index.meshShape)
    devices *= n;
  auto files = root.getStrings("files");
  if (!files.ok() || static_cast<int64_t>(files->size()) != devices)
    return root.error(absl::StrCat(
        "\"files\" must list one file per device of the mesh (", devices,
        ")"));
  index.files = *std::move(files);
  for (const std::string &f : index.files)
    if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..")
      return root.error(absl::StrCat("bad file name '", f, "'"));
  index.checksums.assign(index.files.size(), std::nullopt);
  PALMRT_ASSIGN_OR_RETURN(std::optional<JsonNode> checksums,
                          root.find("checksums"));
  if (checksums)
    PALMRT_RETURN_IF_ERROR(parseChecksums(*checksums, index));
  PALMRT_ASSIGN_OR_RETURN(JsonNode tensors, root.get("tensors"));
  PALMRT_ASSIGN_OR_RETURN(auto members, tensors.members());
  for (const auto &[name, node] : members)
    PALMRT_RETURN_IF_ERROR(parseEntry(node, index, index.tensors[name]));
  return index;
}

std::vector<int64_t>
filesNeeded(const ShardIndex &index, const ProgramInfo &info, int64_t rank,
            const std::vector<const TensorSpec *> &tensors) {
  std::set<int64_t> files;
  for (const TensorSpec *t : tensors) {
    auto e = entryFor(index, *t);
    if (!e.ok())
      continue;
    Plan plan = planTensor(index, **e, info, *t, rank);
    if (plan.direct)
      files.insert(rank);
    for (const Piece &p : plan.pieces)
      files.insert(p.file);
  }
  return {files.begin(), files.end()};
}

absl::Status verifyShardFile(const ShardIndex &index, int64_t file) {
  std::string path = joinPath(index.dir, index.files[file]);
  const std::optional<FileChecksum> &want = index.checksums[file];
  if (!want)
    return absl::DataLossError(
        absl::StrCat(index.path, ": no checksum for ", index.files[file]));
  absl::StatusOr<FileChecksum> got = fileChecksum(path);
  if (!got.ok())
    return absl::DataLossError(got.status().message());
  if (got->bytes != want->bytes)
    return absl::DataLossError(absl::StrFormat(
        "%s: %d bytes, but the index says %d (truncated or replaced)", path,
        got->bytes, want->bytes));
  if (got->crc32 != want->crc32)
    return absl::DataLossError(absl::StrFormat(
        "%s: crc32 %08x, but the index says %08x (corrupted)", path,
        got->crc32, want->crc32));
  return absl::OkStatus();
}

absl::Status readShards(const ShardIndex &index, const ProgramInfo &info,
                        int64_t rank,
                        const std::vector<const TensorSpec *> &tensors,
                        const std::vector<void *> &buffers, bool verify) {
  std::vector<Plan> plans;
  for (const TensorSpec *t : tensors) {
    PALMRT_ASSIGN_OR_RETURN(const ShardIndex::Entry *e, entryFor(index, *t));
    plans.push_back(planTensor(index, *e, info, *t, rank));
  }
  std::map<int64_t, std::unique_ptr<SafetensorsFile>> open;
  auto fileOf = [&](int64_t r) -> absl::StatusOr<SafetensorsFile *> {
    auto &slot = open[r];
    if (!slot) {
      if (verify)
        PALMRT_RETURN_IF_ERROR(verifyShardFile(index, r));
      PALMRT_ASSIGN_OR_RETURN(
          slot, SafetensorsFile::open(joinPath(index.dir, index.files[r])));
    }
    return slot.get();
  };
  ProgramInfo saved = index.meshInfo();
  std::vector<char> staging;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorSpec &t = *tensors[i];
    if (plans[i].direct) {
      PALMRT_ASSIGN_OR_RETURN(SafetensorsFile * file, fileOf(rank));
      PALMRT_RETURN_IF_ERROR(
          file->read(t.name, t.dtype, t.localShape, buffers[i]));
      continue;
    }
    // Padding (and a shard past the end) reads as zeros.
    std::memset(buffers[i], 0, static_cast<size_t>(t.localBytes()));
    TensorSpec savedSpec = index.spec(t.name, index.tensors.at(t.name));
    std::vector<int64_t> dstOrigin = shardOffsets(info, t, rank);
    int32_t dims = static_cast<int32_t>(t.globalShape.size());
    int64_t elem = dtypeBytes(t.dtype);
    for (const Piece &p : plans[i].pieces) {
      PALMRT_ASSIGN_OR_RETURN(SafetensorsFile * file, fileOf(p.file));
      if (dims == 0) {
        PALMRT_RETURN_IF_ERROR(
            file->read(t.name, t.dtype, savedSpec.localShape, buffers[i]));
        continue;
      }
      std::vector<int64_t> srcOrigin = shardOffsets(saved, savedSpec, p.file);
      std::vector<int64_t> src(dims), dst(dims), block(dims);
      for (int32_t d = 0; d < dims; ++d) {
        src[d] = p.region.lo[d] - srcOrigin[d];
        dst[d] = p.region.lo[d] - dstOrigin[d];
        block[d] = p.region.hi[d] - p.region.lo[d];
      }
      // Only the saved shard's slab of outermost rows that overlap is read:
      // contiguous in the file.
      std::vector<int64_t> slab = savedSpec.localShape;
      slab[0] = block[0];
      uint64_t rowBytes = static_cast<uint64_t>(
          product(slab.data(), 1, dims) * elem);
      staging.resize(static_cast<size_t>(rowBytes * block[0]));
      PALMRT_RETURN_IF_ERROR(file->readBytes(
          t.name, t.dtype, savedSpec.localShape,
          static_cast<uint64_t>(src[0]) * rowBytes,
          static_cast<uint64_t>(block[0]) * rowBytes, staging.data()));
      src[0] = 0;
      copyBlock(staging.data(), slab.data(), src.data(), buffers[i],
                t.localShape.data(), dst.data(), block.data(), dims, elem);
    }
  }
  return absl::OkStatus();
}

absl::Status readShards(const std::string &dir, const std::string &prefix,
                        const ProgramInfo &info, int64_t rank,
                        const std::vector<const TensorSpec *> &tensors,
                        const std::vector<void *> &buffers) {
  PALMRT_ASSIGN_OR_RETURN(ShardIndex index, readShardIndex(dir, prefix));
  return readShards(index, info, rank, tensors, buffers);
}

} // namespace palmrt
