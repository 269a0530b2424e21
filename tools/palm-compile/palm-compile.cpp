//===- palm-compile.cpp - palm module to executable -----------------------===//
//
// A driver over the same pipelines palm-opt runs: partition (when the input
// is global), lower to loops and runtime calls, lower to LLVM, optimize,
// emit an object, and link it with the palm runtime:
//
//   palm-compile model.mlir -o model && mpirun -np 4 ./model
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "palm/Compile/Codegen.h"
#include "palm/Conversion/Passes.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"
#include "palm/Dialect/Palm/Transforms/Passes.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

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
static cl::opt<std::string> runtimeLink(
    "runtime-link",
    cl::desc("File holding the runtime's link arguments (default: "
             "<palm-compile dir>/../lib/palmrt-link.txt)"),
    cl::init(""), cl::cat(category));

namespace {

/// Records and prints phase times.
class PhaseTimer {
public:
  void start(llvm::StringRef name) {
    stop();
    current = name.str();
    begin = std::chrono::steady_clock::now();
  }
  void stop() {
    if (current.empty())
      return;
    double seconds = std::chrono::duration<double>(
                         std::chrono::steady_clock::now() - begin)
                         .count();
    phases.push_back({current, seconds});
    current.clear();
  }
  void print() {
    stop();
    double total = 0;
    for (auto &[name, seconds] : phases)
      total += seconds;
    llvm::errs() << "palm-compile phase times:\n";
    for (auto &[name, seconds] : phases)
      llvm::errs() << llvm::format("  %-12s %8.3f s\n", name.c_str(),
                                   seconds);
    llvm::errs() << llvm::format("  %-12s %8.3f s\n", "total", total);
  }

private:
  std::string current;
  std::chrono::steady_clock::time_point begin;
  std::vector<std::pair<std::string, double>> phases;
};

} // namespace

static int fail(const llvm::Twine &message) {
  llvm::errs() << "palm-compile: error: " << message << "\n";
  return 1;
}

/// Writes `module` to the output file (stdout by default).
static int printModule(ModuleOp module) {
  std::string error;
  auto out = openOutputFile(outputFile.empty() ? std::string("-") : std::string(outputFile), &error);
  if (!out)
    return fail(error);
  module.print(out->os());
  out->keep();
  return 0;
}

/// The runtime's link arguments, one line, whitespace separated.
static FailureOr<std::vector<std::string>> readLinkArguments(const char *argv0,
                                                             bool cuda) {
  std::string path = runtimeLink;
  if (path.empty()) {
    static int anchor;
    std::string exe = llvm::sys::fs::getMainExecutable(argv0, &anchor);
    llvm::SmallString<256> p(llvm::sys::path::parent_path(exe));
    llvm::sys::path::append(p, "..", "lib",
                            cuda ? "palmrt-link-cuda.txt" : "palmrt-link.txt");
    path = std::string(p);
  }
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer) {
    fail("cannot read the runtime's link arguments from '" + path + "': " +
         (cuda ? "this build has no cuda runtime (it needs the CUDA toolkit "
                 "at configure time)"
               : "build the runtime (it writes that file)") +
         ", or pass --runtime-link");
    return failure();
  }
  // A relative path names a file beside the link file (an installed tree
  // can move); flags and absolute paths are used as they are.
  llvm::StringRef dir = llvm::sys::path::parent_path(path);
  std::vector<std::string> args;
  llvm::SmallVector<llvm::StringRef> parts;
  (*buffer)->getBuffer().split(parts, ' ', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef part : parts) {
    part = part.trim();
    if (part.empty())
      continue;
    if (part.starts_with("-") || llvm::sys::path::is_absolute(part)) {
      args.push_back(part.str());
      continue;
    }
    llvm::SmallString<256> resolved(dir);
    llvm::sys::path::append(resolved, part);
    args.push_back(std::string(resolved));
  }
  return args;
}

/// Writes `bytes` to the output file (standard output by default).
static int writeOutput(llvm::StringRef bytes) {
  std::string error;
  auto out = openOutputFile(
      outputFile.empty() ? std::string("-") : std::string(outputFile), &error);
  if (!out)
    return fail(error);
  out->os() << bytes;
  out->keep();
  return 0;
}

/// Prints the PTX of the compiled kernel module.
static int printKernelPTX(ModuleOp module) {
  auto binary = module.lookupSymbol<gpu::BinaryOp>("palm_kernels");
  if (!binary || binary.getObjects().size() != 1)
    return fail("the program has no compiled GPU kernels");
  return writeOutput(
      cast<gpu::ObjectAttr>(binary.getObjects()[0]).getObject().getValue());
}

/// Replaces the PTX the embed pass stored in @__palm_gpu_image by the image
/// of PTX and cubins (palm::buildGpuImage), 64-byte aligned.
static int embedGpuImage(ModuleOp module) {
  auto global = module.lookupSymbol<LLVM::GlobalOp>("__palm_gpu_image");
  if (!global)
    return 0; // no generated kernels
  auto text = dyn_cast_or_null<StringAttr>(global.getValueOrNull());
  if (!text)
    return fail("@__palm_gpu_image holds no PTX");
  std::string error;
  FailureOr<std::string> image = palm::buildGpuImage(
      text.getValue().drop_back(), cubins, error); // drop the NUL
  if (failed(image))
    return fail(error);
  OpBuilder b(global);
  auto replacement = LLVM::GlobalOp::create(
      b, global.getLoc(), LLVM::LLVMArrayType::get(b.getI8Type(), image->size()),
      /*isConstant=*/true, LLVM::Linkage::Private, "__palm_gpu_image",
      b.getStringAttr(*image), /*alignment=*/64);
  (void)replacement;
  global.erase();
  return 0;
}

/// Writes the embedded GPU image (PTX and cubins) to the output.
static int printGpuImage(ModuleOp module) {
  auto global = module.lookupSymbol<LLVM::GlobalOp>("__palm_gpu_image");
  auto bytes = global ? dyn_cast_or_null<StringAttr>(global.getValueOrNull())
                      : StringAttr();
  if (!bytes)
    return fail("the program has no GPU kernels");
  return writeOutput(bytes.getValue());
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
  bool cuda = target == "cuda";
  static const char *const stages[] = {"local", "lowered", "ptx", "gpu-image",
                                       "llvm",  "obj",     "exe"};
  if (!llvm::is_contained(stages, llvm::StringRef(emit)))
    return fail("unknown --emit stage '" + emit +
                "' (expected local, lowered, ptx, gpu-image, llvm, obj or "
                "exe)");
  if ((emit == "ptx" || emit == "gpu-image") && !cuda)
    return fail("--emit=" + emit + " needs --target cuda");
  if ((emit == "obj" || emit == "exe") && outputFile.empty())
    outputFile = emit == "exe" ? "a.out" : "a.o";

  DialectRegistry registry;
  palm::registerGpuCompilation(registry);
  registry.insert<palm::PalmDialect, arith::ArithDialect, cf::ControlFlowDialect,
                  func::FuncDialect, LLVM::LLVMDialect, math::MathDialect,
                  scf::SCFDialect, tensor::TensorDialect>();
  MLIRContext context(registry);
  context.loadAllAvailableDialects();

  PhaseTimer timer;
  timer.start("parse");
  std::string error;
  auto input = openInputFile(inputFile, &error);
  if (!input)
    return fail(error);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;

  auto run = [&](llvm::function_ref<void(PassManager &)> build) {
    PassManager pm(&context);
    build(pm);
    return succeeded(pm.run(*module));
  };

  if (palm::getLevel(*module) == palm::Level::Global) {
    // The model FLOPs of a step, for the MFU the runtime prints.
    (*module)->setAttr(palm::PalmDialect::kForwardFlopsAttrName,
                       IntegerAttr::get(IntegerType::get(&context, 64),
                                        palm::modelForwardFlops(*module)));
    timer.start("partition");
    if (!run([](PassManager &pm) { palm::buildSpmdPipeline(pm, explain); }))
      return 1;
  }
  if (emit == "local") {
    timer.stop();
    if (timing)
      timer.print();
    return printModule(*module);
  }

  timer.start("lower");
  if (!run([&](PassManager &pm) {
        pm.addPass(palm::createPalmLowerToRuntime(
            palm::PalmLowerToRuntimeOptions{target}));
      }))
    return 1;
  if (emit == "lowered") {
    timer.stop();
    if (timing)
      timer.print();
    return printModule(*module);
  }
  if (cuda) {
    timer.start("kernels");
    if (!run([](PassManager &pm) { palm::buildGpuKernelPipeline(pm); }))
      return 1;
    if (emit == "ptx") {
      timer.stop();
      if (timing)
        timer.print();
      return printKernelPTX(*module);
    }
    if (!run([](PassManager &pm) {
          pm.addPass(palm::createPalmEmbedGpuKernels());
        }))
      return 1;
    timer.start("cubins");
    if (int status = embedGpuImage(*module))
      return status;
    if (emit == "gpu-image") {
      timer.stop();
      if (timing)
        timer.print();
      return printGpuImage(*module);
    }
  }
  if (!run([](PassManager &pm) { palm::buildRuntimeToLLVMPipeline(pm); }))
    return 1;

  timer.start("codegen");
  std::string objectPath = outputFile;
  llvm::SmallString<128> tempObject;
  if (emit == "exe") {
    if (auto ec = llvm::sys::fs::createTemporaryFile("palm", "o", tempObject))
      return fail("cannot create a temporary object file: " + ec.message());
    objectPath = std::string(tempObject);
  }
  {
    auto out = openOutputFile(objectPath.empty() ? "-" : objectPath, &error);
    if (!out)
      return fail(error);
    if (failed(palm::emitHostCode(*module, emit != "llvm", out->os(), error)))
      return fail(error);
    out->keep();
  }
  if (emit != "exe") {
    timer.stop();
    if (timing)
      timer.print();
    return 0;
  }

  timer.start("link");
  FailureOr<std::vector<std::string>> linkArgs =
      readLinkArguments(argv[0], cuda);
  if (failed(linkArgs)) {
    llvm::sys::fs::remove(tempObject);
    return 1;
  }
  std::string linker = PALM_LINKER;
  std::vector<llvm::StringRef> args = {linker, objectPath, "-o", outputFile};
  for (const std::string &a : *linkArgs)
    args.push_back(a);
  std::string linkError;
  int status = llvm::sys::ExecuteAndWait(linker, args, std::nullopt, {}, 0, 0,
                                         &linkError);
  llvm::sys::fs::remove(tempObject);
  if (status != 0)
    return fail("linking with " + linker + " failed" +
                (linkError.empty() ? "" : ": " + linkError));
  timer.stop();
  if (timing)
    timer.print();
  return 0;
}
