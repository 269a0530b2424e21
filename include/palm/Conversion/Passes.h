//===- Passes.h - palm conversion passes ------------------------*- C++ -*-===//

#ifndef PALM_CONVERSION_PASSES_H
#define PALM_CONVERSION_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Pass/Pass.h"
#include "palm/Dialect/Palm/IR/PalmDialect.h"

namespace mlir {
class OpPassManager;
namespace palm {

#define GEN_PASS_DECL
#include "palm/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "palm/Conversion/Passes.h.inc"

/// Adds the passes from the output of -palm-lower-to-runtime to the LLVM
/// dialect (scf to cf, then arith, math, func and cf to LLVM).
void buildLowerToLLVMPipeline(OpPassManager &pm);

/// The passes after -palm-lower-to-runtime: scf, arith, math, index, func
/// and cf to the LLVM dialect.
void buildRuntimeToLLVMPipeline(OpPassManager &pm);

/// Compiles the kernel module of a cuda lowering to PTX in a gpu.binary:
/// scf to cf, gpu to NVVM, gpu-module-to-binary (format isa).
void buildGpuKernelPipeline(OpPassManager &pm);

/// The GPU image palm-compile embeds for --target cuda (docs/runtime-abi.md):
/// "PALMGPU1", then entries of PTX text and, when the toolkit's ptxas is at
/// hand (PALM_CUDA_ROOT/bin/ptxas) and `cubins` is set, sm_80 and sm_90
/// cubins compiled from that PTX; the runtime loads the cubin of the device's
/// architecture and falls back to the PTX. Fails with `error` when ptxas
/// rejects the PTX.
FailureOr<std::string> buildGpuImage(StringRef ptx, bool cubins,
                                     std::string &error);

/// Registers the dialects, the NVVM target and the translations that
/// compiling GPU kernels to PTX needs.
void registerGpuCompilation(DialectRegistry &registry);

/// Registers palm-lower-to-llvm (lowering to runtime calls, then to LLVM).
void registerPalmConversionPipelines();

} // namespace palm
} // namespace mlir

#endif // PALM_CONVERSION_PASSES_H
