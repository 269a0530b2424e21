//===- Driver.cpp - palm-compile's pipeline -------------------------------===//
//
// Runs the phases of Driver.h in order on one module and stops at the stage
// --emit names. Every phase but the last two is a pipeline palm-opt runs
// alone (docs/compiling.md), so a stage's output can be reproduced and
// tested without the driver; the driver adds only what is not a pass: the
// GPU image, host code generation and linking.
//
//===----------------------------------------------------------------------===//

#include "palm/Compile/Driver.h"
#include "palm/Compile/MemoryReport.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "palm/Compile/Codegen.h"
#include "palm/Compile/Link.h"
#include "palm/Conversion/Passes.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"
#include "palm/Dialect/Palm/Transforms/Passes.h"
#include "palm/Support/DiagnosticPrinter.h"
#include "palm/Support/NestingLimit.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

#include <chrono>
#include <utility>
#include <vector>

using namespace mlir;
using namespace mlir::palm;

static constexpr llvm::StringLiteral kStageNames[] = {
    "local", "lowered", "ptx", "gpu-image", "llvm", "obj", "exe"};

std::optional<Stage> mlir::palm::parseStage(llvm::StringRef name) {
  for (auto [index, stageName] : llvm::enumerate(kStageNames))
    if (stageName == name)
      return static_cast<Stage>(index);
  return std::nullopt;
}

bool mlir::palm::isGpuStage(Stage stage) {
  return stage == Stage::Ptx || stage == Stage::GpuImage;
}

llvm::StringRef mlir::palm::getPhaseName(Phase phase) {
  static constexpr llvm::StringLiteral kNames[] = {
      "parse", "partition", "lower", "kernels", "cubins", "codegen", "link"};
  return kNames[static_cast<int>(phase)];
}

/// Reports an error that has no location in the IR; returns failure.
static LogicalResult fail(const llvm::Twine &message) {
  llvm::errs() << "palm-compile: error: " << message << "\n";
  return failure();
}

namespace {

/// Records how long each phase took and prints the table --timing shows.
class PhaseTimer {
public:
  /// Ends the running phase, if any, and starts `phase`.
  void start(Phase phase) {
    stop();
    current = phase;
    begin = std::chrono::steady_clock::now();
  }
  void stop() {
    if (!current)
      return;
    std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - begin;
    phases.push_back({*current, elapsed.count()});
    current.reset();
  }
  void print() const {
    double total = 0;
    for (auto &[phase, seconds] : phases)
      total += seconds;
    llvm::errs() << "palm-compile phase times:\n";
    for (auto &[phase, seconds] : phases)
      llvm::errs() << llvm::format("  %-12s %8.3f s\n",
                                   getPhaseName(phase).str().c_str(), seconds);
    llvm::errs() << llvm::format("  %-12s %8.3f s\n", "total", total);
  }

private:
  std::optional<Phase> current;
  std::chrono::steady_clock::time_point begin;
  std::vector<std::pair<Phase, double>> phases;
};

/// One compilation: the options, the module being compiled and the times
/// of its phases.
class Driver {
public:
  explicit Driver(const CompileOptions &options);
  /// Reads the input and runs the phases; returns the exit code.
  int run();

private:
  static DialectRegistry getRegistry();
  /// The phases after parsing, up to the stage asked for.
  int runPhases();
  /// Ends the last phase, prints the times when asked, then writes the
  /// stage's output with `write` (when given).
  int finish(llvm::function_ref<LogicalResult()> write = nullptr);
  LogicalResult runPasses(llvm::function_ref<void(OpPassManager &)> build);
  /// Writes what `print` prints to the output (standard output by default).
  LogicalResult
  writeOutput(llvm::function_ref<void(llvm::raw_ostream &)> print);
  LogicalResult printModule();
  LogicalResult printKernelPtx();
  LogicalResult embedGpuImage();
  LogicalResult printGpuImage();
  /// Codegen and, for an executable, linking.
  int emitHostProgram();
  /// Writes LLVM IR or an object file (by the stage) to `path`.
  LogicalResult emitObject(llvm::StringRef path);
  int link(llvm::StringRef object);

  CompileOptions options;
  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  PhaseTimer timer;
};

} // namespace

Driver::Driver(const CompileOptions &compileOptions)
    : options(compileOptions), context(getRegistry()) {
  context.loadAllAvailableDialects();
  if (options.outputFile.empty() && options.emit == Stage::Exe)
    options.outputFile = "a.out";
  if (options.outputFile.empty() && options.emit == Stage::Obj)
    options.outputFile = "a.o";
}

DialectRegistry Driver::getRegistry() {
  DialectRegistry registry;
  registerGpuCompilation(registry);
  registry.insert<PalmDialect, arith::ArithDialect, cf::ControlFlowDialect,
                  func::FuncDialect, LLVM::LLVMDialect, math::MathDialect,
                  scf::SCFDialect, tensor::TensorDialect>();
  return registry;
}

int Driver::run() {
  timer.start(Phase::Parse);
  std::string error;
  auto input = openInputFile(options.inputFile, &error);
  if (!input)
    return failed(fail(error));
  if (failed(checkNestingDepth(*input, llvm::errs())))
    return 1;
  // Diagnostics of every phase point into the input, so the source manager
  // lives as long as the compilation.
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  ScopedDiagnosticPrinter diagnostics(sourceMgr, &context, "palm-compile");
  module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;
  return runPhases();
}

int Driver::runPhases() {
  if (getLevel(*module) == Level::Global) {
    timer.start(Phase::Partition);
    if (failed(runPasses([&](OpPassManager &pm) {
          pm.addPass(createPalmStampForwardFlops());
          buildSpmdPipeline(pm, options.explain);
        })))
      return 1;
  }
  if (options.emit == Stage::Local)
    return finish([&] { return printModule(); });

  timer.start(Phase::Lower);
  if (failed(runPasses([&](OpPassManager &pm) {
        pm.addPass(createPalmLowerToRuntime(
            PalmLowerToRuntimeOptions{options.cuda ? "cuda" : "cpu"}));
      })))
    return 1;
  if (options.memoryReport) {
    std::string error;
    if (failed(printMemoryReport(*module, llvm::errs(), error)))
      return failed(fail(error));
  }
  if (options.emit == Stage::Lowered)
    return finish([&] { return printModule(); });
  if (!options.cuda)
    return emitHostProgram();

  timer.start(Phase::Kernels);
  if (failed(runPasses(buildGpuKernelPipeline)))
    return 1;
  if (options.emit == Stage::Ptx)
    return finish([&] { return printKernelPtx(); });
  if (failed(runPasses(
          [](OpPassManager &pm) { pm.addPass(createPalmEmbedGpuKernels()); })))
    return 1;
  timer.start(Phase::Cubins);
  if (failed(embedGpuImage()))
    return 1;
  if (options.emit == Stage::GpuImage)
    return finish([&] { return printGpuImage(); });
  return emitHostProgram();
}

int Driver::finish(llvm::function_ref<LogicalResult()> write) {
  timer.stop();
  if (options.timing)
    timer.print();
  return write && failed(write()) ? 1 : 0;
}

LogicalResult
Driver::runPasses(llvm::function_ref<void(OpPassManager &)> build) {
  PassManager pm(&context);
  build(pm);
  return pm.run(*module);
}

LogicalResult
Driver::writeOutput(llvm::function_ref<void(llvm::raw_ostream &)> print) {
  std::string error;
  auto out = openOutputFile(
      options.outputFile.empty() ? "-" : options.outputFile, &error);
  if (!out)
    return fail(error);
  print(out->os());
  out->keep();
  return success();
}

LogicalResult Driver::printModule() {
  return writeOutput([&](llvm::raw_ostream &os) { module->print(os); });
}

LogicalResult Driver::printKernelPtx() {
  auto binary = module->lookupSymbol<gpu::BinaryOp>("palm_kernels");
  if (!binary || binary.getObjects().size() != 1)
    return fail("the program has no compiled GPU kernels");
  StringRef ptx =
      cast<gpu::ObjectAttr>(binary.getObjects()[0]).getObject().getValue();
  return writeOutput([&](llvm::raw_ostream &os) { os << ptx; });
}

/// Replaces the PTX the embed pass stored in @__palm_gpu_image by the image
/// of PTX and cubins (palm::buildGpuImage), 64-byte aligned.
LogicalResult Driver::embedGpuImage() {
  auto global = module->lookupSymbol<LLVM::GlobalOp>("__palm_gpu_image");
  if (!global)
    return success(); // no generated kernels
  auto text = dyn_cast_or_null<StringAttr>(global.getValueOrNull());
  if (!text)
    return fail("@__palm_gpu_image holds no PTX");
  std::string error;
  FailureOr<std::string> image = buildGpuImage(
      text.getValue().drop_back(), options.cubins, error); // drop the NUL
  if (failed(image))
    return fail(error);
  OpBuilder b(global);
  LLVM::GlobalOp::create(
      b, global.getLoc(), LLVM::LLVMArrayType::get(b.getI8Type(), image->size()),
      /*isConstant=*/true, LLVM::Linkage::Private, "__palm_gpu_image",
      b.getStringAttr(*image), /*alignment=*/64);
  global.erase();
  return success();
}

LogicalResult Driver::printGpuImage() {
  auto global = module->lookupSymbol<LLVM::GlobalOp>("__palm_gpu_image");
  auto bytes = global ? dyn_cast_or_null<StringAttr>(global.getValueOrNull())
                      : StringAttr();
  if (!bytes)
    return fail("the program has no GPU kernels");
  return writeOutput(
      [&](llvm::raw_ostream &os) { os << bytes.getValue(); });
}

int Driver::emitHostProgram() {
  timer.start(Phase::Codegen);
  if (failed(runPasses(buildRuntimeToLLVMPipeline)))
    return 1;
  if (options.emit != Stage::Exe)
    return failed(emitObject(options.outputFile)) ? 1 : finish();
  // The linker reads the object from a file of its own, removed after.
  llvm::SmallString<128> tempObject;
  if (auto ec = llvm::sys::fs::createTemporaryFile("palm", "o", tempObject))
    return failed(
        fail("cannot create a temporary object file: " + ec.message()));
  int status = failed(emitObject(tempObject)) ? 1 : link(tempObject);
  llvm::sys::fs::remove(tempObject);
  return status;
}

LogicalResult Driver::emitObject(llvm::StringRef path) {
  std::string error;
  auto out = openOutputFile(path.empty() ? "-" : path, &error);
  if (!out)
    return fail(error);
  if (failed(emitHostCode(*module, /*asObject=*/options.emit != Stage::Llvm,
                          out->os(), error)))
    return fail(error);
  out->keep();
  return success();
}

int Driver::link(llvm::StringRef object) {
  timer.start(Phase::Link);
  std::string error;
  FailureOr<std::vector<std::string>> linkArguments = readLinkArguments(
      options.runtimeLink, options.mainExecutable, options.cuda, error);
  if (failed(linkArguments) ||
      failed(linkExecutable(object, options.outputFile, *linkArguments, error)))
    return failed(fail(error));
  return finish();
}

int mlir::palm::compile(const CompileOptions &options) {
  return Driver(options).run();
}
