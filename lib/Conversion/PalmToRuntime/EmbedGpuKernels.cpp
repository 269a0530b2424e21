//===- EmbedGpuKernels.cpp - PTX of the kernel module into a global -------===//

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "palm/Conversion/Passes.h"

namespace mlir::palm {
#define GEN_PASS_DEF_PALMEMBEDGPUKERNELS
#include "palm/Conversion/Passes.h.inc"
} // namespace mlir::palm

using namespace mlir;

namespace {

/// Moves the PTX of gpu.binary @palm_kernels into @__palm_gpu_image.
struct EmbedGpuKernelsPass
    : public palm::impl::PalmEmbedGpuKernelsBase<EmbedGpuKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto binary = module.lookupSymbol<gpu::BinaryOp>("palm_kernels");
    auto image = module.lookupSymbol<LLVM::GlobalOp>("__palm_gpu_image");
    if (!binary || !image)
      return;
    auto objects = binary.getObjects();
    if (objects.size() != 1) {
      binary.emitError() << "expected one compiled object, found "
                         << objects.size();
      return signalPassFailure();
    }
    auto object = cast<gpu::ObjectAttr>(objects[0]);
    if (object.getFormat() != gpu::CompilationTarget::Assembly) {
      binary.emitError() << "expected the kernels as PTX (format isa)";
      return signalPassFailure();
    }
    std::string text = object.getObject().str();
    text.push_back('\0');
    OpBuilder b(image);
    LLVM::GlobalOp::create(
        b, image.getLoc(), LLVM::LLVMArrayType::get(b.getI8Type(), text.size()),
        /*isConstant=*/true, LLVM::Linkage::Private, "__palm_gpu_image",
        b.getStringAttr(text));
    image.erase();
    binary.erase();
    module->removeAttr(gpu::GPUDialect::getContainerModuleAttrName());
  }
};

} // namespace
