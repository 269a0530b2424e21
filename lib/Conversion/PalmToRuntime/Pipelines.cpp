//===- Pipelines.cpp - from local palm to the LLVM dialect ----------------===//

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "palm/Conversion/Passes.h"

using namespace mlir;

void mlir::palm::buildLowerToLLVMPipeline(OpPassManager &pm) {
  pm.addPass(createPalmLowerToRuntime());
  buildRuntimeToLLVMPipeline(pm);
}

void mlir::palm::buildRuntimeToLLVMPipeline(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createSCFToControlFlowPass());
  // bf16 conversions as integer arithmetic (round to nearest even, NaN kept)
  // in host code: LLVM would call __truncsfbf2, which the link lacks. GPU
  // kernels, in gpu.module, keep their native conversions.
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addNestedPass<func::FuncOp>(arith::createArithExpandOpsPass(expand));
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void mlir::palm::buildGpuKernelPipeline(OpPassManager &pm) {
  pm.addPass(createSCFToControlFlowPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createConvertGpuOpsToNVVMOps());
  pm.addNestedPass<gpu::GPUModuleOp>(createReconcileUnrealizedCastsPass());
  GpuModuleToBinaryPassOptions options;
  options.compilationTarget = "isa";
  // libdevice (for exp2, log2, sqrt, sin, cos) comes from the toolkit.
  options.toolkitPath = PALM_CUDA_ROOT;
  pm.addPass(createGpuModuleToBinaryPass(options));
}

void mlir::palm::registerPalmConversionPipelines() {
  PassPipelineRegistration<>(
      "palm-lower-to-llvm",
      "Lower a local palm program to the LLVM dialect: loops and palmrt calls "
      "(-palm-lower-to-runtime), then scf, arith, math, func and cf to LLVM",
      [](OpPassManager &pm) { buildLowerToLLVMPipeline(pm); });
  PassPipelineRegistration<>(
      "palm-compile-gpu-kernels",
      "Compile the generated kernels of -palm-lower-to-runtime{target=cuda} "
      "to PTX (scf to cf, gpu to NVVM, gpu-module-to-binary format=isa)",
      [](OpPassManager &pm) { buildGpuKernelPipeline(pm); });
}
