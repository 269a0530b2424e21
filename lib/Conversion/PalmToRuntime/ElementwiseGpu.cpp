//===- ElementwiseGpu.cpp - fusions to generated kernels (CUDA) -----------===//
//
// A palm.fusion becomes one grid-stride kernel. Each thread takes `width`
// consecutive elements, 16 bytes of the widest type, with vector loads and
// stores when the element count allows it; the kernel checks that every
// pointer is 16-byte aligned and falls back to one element per thread
// otherwise. Fusions with equal bodies share one kernel.
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

using K = GpuKernels;

/// A text describing the tree that computes `v`, its leaves (block
/// arguments) numbered in order of first use: two fusions with equal keys
/// compile to the same kernel.
static void describeTree(Value v, SmallVectorImpl<BlockArgument> &leaves,
                         llvm::raw_ostream &os) {
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    auto it = llvm::find(leaves, arg);
    os << "L" << (it - leaves.begin()) << ":" << tensorType(v).getElementType();
    if (it == leaves.end())
      leaves.push_back(arg);
    return;
  }
  Operation *def = v.getDefiningOp();
  os << def->getName().stripDialect() << ":" << tensorType(v).getElementType();
  if (auto scale = dyn_cast<ScaleOp>(def))
    os << "*" << scale.getFactor().convertToFloat();
  os << "(";
  for (Value operand : def->getOperands()) {
    describeTree(operand, leaves, os);
    os << ",";
  }
  os << ")";
}

/// The kernel's body: out = a[0], the leaves' pointers, then n.
static void buildFusionKernel(OpBuilder &b, Location l, ArrayRef<Value> a,
                              Value root, ArrayRef<BlockArgument> leaves,
                              int64_t width) {
  auto leaf = [&](BlockArgument arg) {
    return a[1 + (llvm::find(leaves, arg) - leaves.begin())];
  };
  auto scalarLoop = [&](OpBuilder &sb) {
    K::gridStride(sb, l, a.back(), [&](Value i) {
      DenseMap<Value, Value> cache;
      K::store(sb, l, emitElementExpr(sb, l, root, i, leaf, cache), a[0], i);
    });
  };
  if (width == 1)
    return scalarLoop(b);
  auto branch = scf::IfOp::create(
      b, l, K::vectorizable(b, l, a.drop_back(), a.back(), width),
      /*withElseRegion=*/true);
  OpBuilder vb = branch.getThenBodyBuilder();
  Value vectors = arith::DivSIOp::create(vb, l, a.back(), K::i64(vb, l, width));
  K::gridStride(vb, l, vectors, [&](Value iv) {
    Value first = arith::MulIOp::create(vb, l, iv, K::i64(vb, l, width));
    SmallVector<SmallVector<Value>> loaded;
    for (BlockArgument arg : leaves)
      loaded.push_back(K::loadVector(vb, l, tensorType(arg).getElementType(),
                                     leaf(arg), first, width));
    SmallVector<Value> results;
    for (int64_t e = 0; e < width; ++e) {
      DenseMap<Value, Value> cache;
      for (auto [arg, v] : llvm::zip(leaves, loaded))
        cache[arg] = v[e];
      Value index = arith::AddIOp::create(vb, l, first, K::i64(vb, l, e));
      results.push_back(emitElementExpr(vb, l, root, index, leaf, cache));
    }
    K::storeVector(vb, l, a[0], first, results);
  });
  OpBuilder sb = branch.getElseBodyBuilder();
  scalarLoop(sb);
}

namespace {

/// palm.fusion -> one generated kernel launch.
struct FusionToKernel : RuntimePattern<FusionOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(FusionOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    Value root = op.getYielded();
    SmallVector<BlockArgument> leaves;
    std::string key;
    llvm::raw_string_ostream os(key);
    os << "ew:";
    describeTree(root, leaves, os);
    int64_t n = op.getType().getNumElements();
    // 16 bytes of the widest element type per thread.
    int64_t width = K::vectorWidth(tensorType(root).getElementType());
    for (BlockArgument arg : leaves)
      width = std::min(width, K::vectorWidth(tensorType(arg).getElementType()));
    if (n % width != 0)
      width = 1;
    os << ":w" << width;
    Type ptr = LLVM::LLVMPointerType::get(e.builder().getContext());
    SmallVector<Type> argTypes(leaves.size() + 1, ptr);
    argTypes.push_back(e.builder().getI64Type());
    StringRef kernel = state.gpu->get(
        key, argTypes, [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          buildFusionKernel(b, l, a, root, leaves, width);
        });
    SmallVector<Value> args = {resultPtr(op.getResult())};
    for (BlockArgument arg : leaves)
      args.push_back(adaptor.getInputs()[arg.getArgNumber()]);
    args.push_back(e.i64(n));
    e.launch(kernel, n / width, /*warpPerRow=*/false, args);
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateGpuElementwisePatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<FusionToKernel>(converter, state);
}
