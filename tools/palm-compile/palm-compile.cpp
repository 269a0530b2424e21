//===- palm-compile.cpp - palm module to executable -----------------------===//
//
// The command line of the palm compiler: partition (when the input is
// global), lower to loops and runtime calls, lower to LLVM, optimize, emit
// an object, and link it with the palm runtime:
//
//   palm-compile model.mlir -o model && mpirun -np 4 ./model
//
// The phases live in lib/Compile (palm/Compile/Driver.h); this file only
// turns flags into CompileOptions.
//
//===----------------------------------------------------------------------===//

#include "palm/Compile/Driver.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>
#include <string>

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("palm-compile options");
static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<input.mlir>"),
                                      cl::init("-"), cl::cat(category));
static cl::opt<std::string> outputFile("o", cl::desc("Output file"),
                                       cl::value_desc("file"), cl::init(""),
                                       cl::cat(category));
static cl::opt<std::string>
    target("target", cl::desc("Target: cpu (the default) or cuda"),
           cl::init("cpu"), cl::cat(category));
static cl::opt<std::string> emit(
    "emit",
    cl::desc("Stop after a stage: local (partitioned IR), lowered (loops and "
             "runtime calls), ptx (the generated GPU kernels, --target cuda), "
             "gpu-image (the PTX and cubins embedded for --target cuda), llvm "
             "(LLVM IR), obj (object file), exe (the default: a linked "
             "executable)"),
    cl::init("exe"), cl::cat(category));
static cl::opt<bool> cubins(
    "cubins",
    cl::desc("With --target cuda, also embed sm_80 and sm_90 machine code "
             "compiled by the toolkit's ptxas when it is installed (default "
             "on; the PTX is always embedded)"),
    cl::init(true), cl::cat(category));
static cl::opt<bool> timing("timing", cl::desc("Print the time of each phase"),
                            cl::init(false), cl::cat(category));
static cl::opt<bool> explain(
    "explain", cl::desc("Explain every inserted collective with a remark"),
    cl::init(false), cl::cat(category));
static cl::opt<bool> memoryReport(
    "memory-report",
    cl::desc("Print one device's planned memory to standard error: "
             "parameters, optimizer state, inputs, results and the arena of "
             "intermediates with its peak of live gradients and activations "
             "(see docs/training.md)"),
    cl::init(false), cl::cat(category));
static cl::opt<std::string> runtimeLink(
    "runtime-link",
    cl::desc("File holding the runtime's link arguments (default: "
             "<palm-compile dir>/../lib/palmrt-link.txt)"),
    cl::init(""), cl::cat(category));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "palm-compile: error: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(
      argc, argv,
      "palm-compile: compiles a palm module (global or local) to an "
      "executable\n\n  palm-compile model.mlir -o model && mpirun -np N "
      "./model\n");

  if (target != "cpu" && target != "cuda")
    return fail("unknown target '" + target + "' (expected cpu or cuda)");
  std::optional<palm::Stage> stage = palm::parseStage(emit);
  if (!stage)
    return fail("unknown --emit stage '" + emit +
                "' (expected local, lowered, ptx, gpu-image, llvm, obj or "
                "exe)");
  if (palm::isGpuStage(*stage) && target != "cuda")
    return fail("--emit=" + emit + " needs --target cuda");

  static int anchor;
  palm::CompileOptions options;
  options.inputFile = inputFile;
  options.outputFile = outputFile;
  options.cuda = target == "cuda";
  options.emit = *stage;
  options.cubins = cubins;
  options.timing = timing;
  options.explain = explain;
  options.memoryReport = memoryReport;
  options.runtimeLink = runtimeLink;
  options.mainExecutable = llvm::sys::fs::getMainExecutable(argv[0], &anchor);
  return palm::compile(options);
}
