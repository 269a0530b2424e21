//===- Driver.h - palm-compile's pipeline as a library ----------*- C++ -*-===//
//
// The phases that take a palm module (global or local) to an executable,
// the stages at which palm-compile may stop, and the options that steer
// them. tools/palm-compile only parses flags into CompileOptions.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_COMPILE_DRIVER_H
#define PALM_COMPILE_DRIVER_H

#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace mlir::palm {

/// What palm-compile writes out (--emit), in pipeline order: each stage
/// runs every phase of the stages before it.
enum class Stage { Local, Lowered, Ptx, GpuImage, Llvm, Obj, Exe };

/// The stage named `name` on the command line, if any.
std::optional<Stage> parseStage(llvm::StringRef name);

/// True for the stages that exist only for --target cuda.
bool isGpuStage(Stage stage);

/// The timed phases (--timing), in the order they run. Phases that do not
/// apply to a compilation (partition of a local module, kernels and cubins
/// on the CPU) do not run and are not printed.
enum class Phase {
  Parse,     // read and verify the input
  Partition, // stamp the FLOPs, propagate, partition, optimize collectives
  Lower,     // -palm-lower-to-runtime
  Kernels,   // the GPU kernels to PTX, embedded in the host module
  Cubins,    // ptxas, and the PTX and cubins embedded as one GPU image
  Codegen,   // to the LLVM dialect, LLVM -O3, textual IR or an object
  Link,      // the object and the runtime, by the C++ compiler
};

/// The name --timing prints for `phase`.
llvm::StringRef getPhaseName(Phase phase);

/// Everything one compilation needs to know; palm-compile's flags.
struct CompileOptions {
  /// The input module ("-" for standard input).
  std::string inputFile = "-";
  /// The output; empty means standard output for text, a.o or a.out else.
  std::string outputFile;
  /// --target cuda: device buffers and generated kernels.
  bool cuda = false;
  Stage emit = Stage::Exe;
  /// With cuda, embed sm_80 and sm_90 cubins as well as the PTX.
  bool cubins = true;
  /// Print the time of each phase to standard error.
  bool timing = false;
  /// Explain every inserted collective with a remark.
  bool explain = false;
  /// Print one device's planned memory (after lowering) to standard error.
  bool memoryReport = false;
  /// The file of the runtime's link arguments; empty means the one beside
  /// `mainExecutable` (<dir>/../lib/palmrt-link[-cuda].txt).
  std::string runtimeLink;
  /// The path of the running palm-compile, to find the runtime relative to
  /// it in a build or an installed tree.
  std::string mainExecutable;
};

/// Runs the phases `options` ask for and writes the output. Reports errors
/// as diagnostics (located where the IR has locations) or as
/// "palm-compile: error: ..." lines; returns the process exit code.
int compile(const CompileOptions &options);

} // namespace mlir::palm

#endif // PALM_COMPILE_DRIVER_H
