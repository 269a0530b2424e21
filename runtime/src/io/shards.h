//===- shards.h - sharded tensor sets on disk -------------------*- C++ -*-===//
//
// A set of tensors (weights, outputs) is one safetensors file per rank,
// `<prefix>-rank<RRRRR>.safetensors` holding that rank's local shards, plus
// `<prefix>.index.json` written by rank 0:
//   {"format": "palm-shards", "version": 1,
//    "mesh": {"axes": [...], "shape": [...]},
//    "files": [file of rank 0, file of rank 1, ...],
//    "tensors": {name: {"dtype", "global_shape", "local_shape",
//                       "sharding": [[axes of dim 0], ...]}}}
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_IO_SHARDS_H
#define PALMRT_SRC_IO_SHARDS_H

#include "io/program_info.h"

#include "absl/status/status.h"

#include <string>
#include <vector>

namespace palmrt {

/// "weights-rank00003.safetensors".
std::string shardFileName(const std::string &prefix, int64_t rank);

/// The index JSON for `tensors` of `info`. `run`, when not empty, is the
/// inside of a JSON object saved as the index's "run" member (how the run
/// that wrote the files was made: seed, step).
std::string shardIndexJson(const ProgramInfo &info,
                           const std::vector<const TensorSpec *> &tensors,
                           const std::string &prefix,
                           const std::string &run = "");

/// Writes rank `rank`'s file (buffers[i] holds tensors[i]'s local shard) and,
/// on rank 0, the index, into `dir` (created if needed).
absl::Status writeShards(const std::string &dir, const std::string &prefix,
                         const ProgramInfo &info, int64_t rank,
                         const std::vector<const TensorSpec *> &tensors,
                         const std::vector<const void *> &buffers,
                         const std::string &run = "");

/// Reads rank `rank`'s shards of `tensors` from `dir` into `buffers`, after
/// checking the index against the program (mesh, dtypes, shapes, shardings)
/// and the file against the index.
absl::Status readShards(const std::string &dir, const std::string &prefix,
                        const ProgramInfo &info, int64_t rank,
                        const std::vector<const TensorSpec *> &tensors,
                        const std::vector<void *> &buffers);

} // namespace palmrt

#endif // PALMRT_SRC_IO_SHARDS_H
