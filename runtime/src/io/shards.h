//===- shards.h - sharded tensor sets on disk -------------------*- C++ -*-===//
//
// A set of tensors (weights, outputs, checkpoints) is one safetensors file
// per rank, `<prefix>-rank<RRRRR>.safetensors` holding that rank's local
// shards, plus `<prefix>.index.json` written by rank 0:
//   {"format": "palm-shards", "version": 1,
//    "mesh": {"axes": [...], "shape": [...]},
//    "files": [file of rank 0, file of rank 1, ...],
//    "checksums": {file: {"crc32": "8 hex digits", "bytes": n}},  (optional)
//    "run": {...},                                                (optional)
//    "tensors": {name: {"dtype", "global_shape", "local_shape",
//                       "sharding": [[axes of dim 0], ...],
//                       "kind": "param" | "state"}}}             (kind optional)
//
// Reading re-partitions: a set saved on one mesh and sharding is read on
// another, each rank opening only the files that hold a part of its shards.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_IO_SHARDS_H
#define PALMRT_SRC_IO_SHARDS_H

#include "base/file_util.h"
#include "io/json.h"
#include "io/program_info.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace palmrt {

/// "weights-rank00003.safetensors".
std::string shardFileName(const std::string &prefix, int64_t rank);

/// The index JSON for `tensors` of `info`. `run`, when not empty, is the
/// inside of a JSON object saved as the index's "run" member (how the run
/// that wrote the files was made: seed, step). `checksums`, when not empty,
/// holds every rank's file's checksum.
std::string shardIndexJson(const ProgramInfo &info,
                           const std::vector<const TensorSpec *> &tensors,
                           const std::string &prefix,
                           const std::string &run = "",
                           const std::vector<FileChecksum> &checksums = {});

/// Writes rank `rank`'s file (buffers[i] holds tensors[i]'s local shard) and,
/// on rank 0, the index, into `dir` (created if needed).
absl::Status writeShards(const std::string &dir, const std::string &prefix,
                         const ProgramInfo &info, int64_t rank,
                         const std::vector<const TensorSpec *> &tensors,
                         const std::vector<const void *> &buffers,
                         const std::string &run = "");

/// Rank `rank`'s file only (no index), into existing directory `dir`; with
/// `sum`, also its checksum.
absl::Status writeShardFile(const std::string &dir, const std::string &prefix,
                            const ProgramInfo &info, int64_t rank,
                            const std::vector<const TensorSpec *> &tensors,
                            const std::vector<const void *> &buffers,
                            FileChecksum *sum = nullptr);

/// An index read back and checked for consistency (not yet against a
/// program).
struct ShardIndex {
  struct Entry {
    int32_t dtype;
    std::vector<int64_t> globalShape, localShape;
    /// Per dimension, the positions in `axisNames` of the axes splitting it.
    std::vector<std::vector<int32_t>> sharding;
    /// "param", "state" or empty.
    std::string kind;
  };
  std::string dir, path;
  std::vector<std::string> axisNames;
  std::vector<int64_t> meshShape;
  std::vector<std::string> files;
  /// Per file; absent when the index has no "checksums".
  std::vector<std::optional<FileChecksum>> checksums;
  std::map<std::string, Entry> tensors;
  /// The whole document (its "run" member).
  Json json;

  int64_t numDevices() const { return static_cast<int64_t>(files.size()); }
  /// The saved mesh as a program description: `meshShape` and axis names.
  ProgramInfo meshInfo() const;
  /// The tensor `name` as saved, as a spec of meshInfo().
  TensorSpec spec(const std::string &name, const Entry &e) const;
};

/// Reads and checks `dir/<prefix>.index.json`.
absl::StatusOr<ShardIndex> readShardIndex(const std::string &dir,
                                          const std::string &prefix);

/// Reads rank `rank`'s shards of `tensors` (as `info` partitions them) into
/// `buffers`, from a set saved on any mesh and sharding of the same global
/// shapes and dtypes. With `verify`, every file this rank opens is first
/// checked against the index's checksum (a DataLoss error naming the file
/// when it differs or the index has none).
absl::Status readShards(const ShardIndex &index, const ProgramInfo &info,
                        int64_t rank,
                        const std::vector<const TensorSpec *> &tensors,
                        const std::vector<void *> &buffers,
                        bool verify = false);
absl::Status readShards(const std::string &dir, const std::string &prefix,
                        const ProgramInfo &info, int64_t rank,
                        const std::vector<const TensorSpec *> &tensors,
                        const std::vector<void *> &buffers);

/// The files (ranks of `index`) that rank `rank` of `info` reads for
/// `tensors`: the ones `readShards` opens.
std::vector<int64_t>
filesNeeded(const ShardIndex &index, const ProgramInfo &info, int64_t rank,
            const std::vector<const TensorSpec *> &tensors);

/// Checks file `file` of `index` against its checksum.
absl::Status verifyShardFile(const ShardIndex &index, int64_t file);

} // namespace palmrt

#endif // PALMRT_SRC_IO_SHARDS_H
