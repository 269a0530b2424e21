//===- program_info.h - the compiled program's description ------*- C++ -*-===//
//
// palm_program_info (docs/runtime-abi.md, versioned JSON) parsed and checked:
// the mesh, the communicator groups, and every argument and result with its
// global and local shape and its sharding.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_IO_PROGRAM_INFO_H
#define PALMRT_SRC_IO_PROGRAM_INFO_H

#include "palmrt/palmrt.h"

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include <cstdint>
#include <string>
#include <vector>

namespace palmrt {

/// Bytes of one element, or 0 for an unknown dtype.
int64_t dtypeBytes(int32_t dtype);
/// "f32", "bf16", "i32", "i64" (lower case, as the description spells them).
const char *dtypeName(int32_t dtype);

/// Param: a model parameter (generated or read, saved by --save-weights);
/// State: optimizer state, zero-filled; Step: the 0-d f32 step number the
/// runtime writes before each step.
enum class TensorKind { Param, State, Step, Input, Result };
/// Where the program's buffers live and which backend serves its calls.
enum class Target { Cpu, Cuda };
enum class InitKind { None, Normal, Ones, Zeros };

struct TensorSpec {
  TensorKind kind = TensorKind::Input;
  int index = 0;
  std::string name;
  palmrt_dtype dtype = PALMRT_F32;
  std::vector<int64_t> globalShape, localShape;
  /// Per dimension, the mesh axes (positions) that split it, major first.
  std::vector<std::vector<int32_t>> sharding;
  InitKind init = InitKind::None;
  double stddev = 0;
  /// For a result: the argument it is the next value of (its "aliases"),
  /// else -1.
  int aliases = -1;
  /// For an input that is one micro-batch of the step's batch (its
  /// "microbatch"): the input's name without the micro-batch ("tokens"),
  /// the micro-batch and their count; else empty, 0 and 1. Micro-batch i
  /// holds rows i * n ... (i + 1) * n - 1 of the batch, n = globalShape[0].
  std::string batchOf;
  int64_t microbatch = 0, microbatches = 1;
  /// The name of the step's input this tensor is (a part of).
  const std::string &inputName() const {
    return batchOf.empty() ? name : batchOf;
  }

  int64_t localElements() const;
  int64_t localBytes() const { return localElements() * dtypeBytes(dtype); }
  int64_t globalElements() const;
};

struct ProgramInfo {
  int version = 0;
  std::vector<std::string> axisNames;
  std::vector<int64_t> meshShape;
  /// groups[id] = the axes (positions) of communicator group `id`.
  std::vector<std::vector<int32_t>> groups;
  std::vector<TensorSpec> args, results;
  /// The optional "vocab"; 0 when absent.
  int64_t vocab = 0;
  /// The optional "flops": the model FLOPs of one step of the whole job
  /// (for the MFU); 0 when absent.
  int64_t flops = 0;
  /// The optional "memory"'s "collective_staging": the bytes of the host
  /// collectives' packing buffers the compiler planned for; 0 when absent.
  int64_t collectiveStaging = 0;
  /// "target": where buffers live.
  Target target = Target::Cpu;

  int64_t numDevices() const;
  /// "data=2,model=2" (or "single device" for a mesh without axes).
  std::string meshString() const;
  /// `name` of argument or result, or null.
  const TensorSpec *findArg(absl::string_view name) const;
  const TensorSpec *findResult(absl::string_view name) const;
  /// The arguments of `kind`, in order.
  std::vector<const TensorSpec *> argsOfKind(TensorKind kind) const;
};

/// The version of the description this runtime reads.
constexpr int kProgramInfoVersion = 2;

/// Parses and checks the description (JSON, docs/runtime-abi.md). Errors
/// name the field ("program description: args[2].local_shape: ...").
absl::StatusOr<ProgramInfo> parseProgramInfo(absl::string_view text);

/// The index of device `rank` within the group over `axes` (row-major over
/// them, major first), and the group's size.
int64_t indexInGroup(const ProgramInfo &info, int64_t rank,
                     const std::vector<int32_t> &axes);
int64_t groupSize(const ProgramInfo &info, const std::vector<int32_t> &axes);

/// Per dimension of `tensor`, the global index of device `rank`'s first local
/// element (its shard offset).
std::vector<int64_t> shardOffsets(const ProgramInfo &info,
                                  const TensorSpec &tensor, int64_t rank);

} // namespace palmrt

#endif // PALMRT_SRC_IO_PROGRAM_INFO_H
