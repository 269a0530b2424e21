//===- palm-opt.cpp - the palm optimizer driver ---------------------------===//
//
// Runs palm and upstream passes over MLIR files, like mlir-opt, with the
// palm dialect and the upstream dialects palm lowers to registered. Two
// things differ from mlir-opt: input nested deeper than palm's limit is
// refused before it reaches the parser (palm/Support/NestingLimit.h), and
// diagnostics name the op they are about (palm/Support/DiagnosticPrinter.h),
// except under --verify-diagnostics, which keeps MLIR's verifier handler.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"
#include "palm/Conversion/Passes.h"
#include "palm/Dialect/Palm/IR/PalmDialect.h"
#include "palm/Dialect/Palm/Transforms/Passes.h"
#include "palm/Support/DiagnosticPrinter.h"
#include "palm/Support/NestingLimit.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::DialectRegistry registry;
  registry.insert<mlir::palm::PalmDialect, mlir::arith::ArithDialect,
                  mlir::bufferization::BufferizationDialect,
                  mlir::cf::ControlFlowDialect, mlir::func::FuncDialect,
                  mlir::gpu::GPUDialect, mlir::LLVM::LLVMDialect,
                  mlir::NVVM::NVVMDialect, mlir::linalg::LinalgDialect,
                  mlir::math::MathDialect, mlir::memref::MemRefDialect,
                  mlir::scf::SCFDialect, mlir::tensor::TensorDialect,
                  mlir::vector::VectorDialect>();
  mlir::palm::registerGpuCompilation(registry);
  mlir::palm::registerPalmPasses();
  mlir::palm::registerPalmPipelines();
  mlir::palm::registerPalmConversionPasses();
  mlir::palm::registerPalmConversionPipelines();
  mlir::registerTransformsPasses();
  auto [inputFile, outputFile] = mlir::registerAndParseCLIOptions(
      argc, argv, "palm optimizer driver\n", registry);
  mlir::MlirOptMainConfig config =
      mlir::MlirOptMainConfig::createFromCLOptions();
  if (config.shouldShowDialects() || config.shouldListPasses())
    return mlir::asMainReturnCode(
        mlir::MlirOptMain(argc, argv, inputFile, outputFile, registry));

  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> input =
      mlir::openInputFile(inputFile, &error);
  if (!input) {
    llvm::errs() << "palm-opt: error: " << error << "\n";
    return 1;
  }
  if (mlir::failed(mlir::palm::checkNestingDepth(*input, llvm::errs(),
                                                 config.inputSplitMarker())))
    return 1;
  // MlirOptMain owns the input until it returns, and the printers, which
  // refer to it, die with its contexts before that.
  if (!config.shouldVerifyDiagnostics())
    mlir::palm::addDiagnosticPrinterExtension(registry, *input, "palm-opt");
  std::unique_ptr<llvm::ToolOutputFile> output =
      mlir::openOutputFile(outputFile, &error);
  if (!output) {
    llvm::errs() << "palm-opt: error: " << error << "\n";
    return 1;
  }
  if (mlir::failed(
          mlir::MlirOptMain(output->os(), std::move(input), registry, config)))
    return 1;
  output->keep();
  return 0;
}
