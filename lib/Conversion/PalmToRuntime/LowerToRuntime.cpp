//===- LowerToRuntime.cpp - local palm to loops and palmrt calls ----------===//
//
// The pass: checks that every op of the local function has a pattern,
// legalizes ops into the forms the target's calls take (Legalize.cpp),
// forms the elementwise fusions, plans the arena, builds
// palm_forward(buffers, arena, ctx) around the function's ops, and runs the
// target's pattern set (PopulatePatterns.h) as a dialect conversion in
// which every tensor becomes a pointer. Arguments and results are read
// from `buffers`; every other stored value lives in the arena at its
// planned offset. The program description and the arena size become
// globals.
//
//===----------------------------------------------------------------------===//

#include "BufferPlan.h"
#include "PopulatePatterns.h"
#include "ProgramInfo.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Diagnostics.h"
#include "palm/Conversion/Passes.h"

namespace mlir::palm {
#define GEN_PASS_DEF_PALMLOWERTORUNTIME
#include "palm/Conversion/Passes.h.inc"
} // namespace mlir::palm

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

/// The value whose memory `v` is: reshapes are views.
static Value storage(Value v) {
  while (auto reshape = v.getDefiningOp<ReshapeOp>())
    v = reshape.getInput();
  return v;
}

/// Bytes of arena scratch the CUDA lowering of `op` needs: per-token
/// losses, summed by a second kernel in a fixed order.
static int64_t gpuScratchBytes(Operation *op) {
  if (auto ce = dyn_cast<CrossEntropyOp>(op))
    return 4 * product(ce.getLogits().getType().getShape().drop_back());
  if (auto loss = dyn_cast<CrossEntropyLossOp>(op))
    return 4 * product(loss.getMax().getType().getShape());
  return 0;
}

namespace {

/// Lowering of one local function for one target.
class FunctionLowering {
public:
  FunctionLowering(func::FuncOp fn, MeshOp mesh, Target target)
      : fn(fn), mesh(mesh), state(fn->getParentOfType<ModuleOp>(), target),
        converter(fn.getContext()), patterns(fn.getContext()) {}

  LogicalResult run();

private:
  void populatePatterns();
  LogicalResult check(const FrozenRewritePatternSet &frozen);
  void plan();
  func::FuncOp buildEntry();
  LogicalResult convert(func::FuncOp entry,
                        const FrozenRewritePatternSet &frozen);
  LogicalResult describe();

  func::FuncOp fn;
  MeshOp mesh;
  LoweringState state;
  PointerTypeConverter converter;
  RewritePatternSet patterns;
  /// Arena offsets of the stored values and of the ops' scratch.
  SmallVector<std::pair<Value, int64_t>> arenaOffset;
  SmallVector<std::pair<Operation *, int64_t>> scratchOffset;
  int64_t arenaBytes = 0;
};

} // namespace

void FunctionLowering::populatePatterns() {
  populateContractionPatterns(patterns, converter, state);
  populateAttentionPatterns(patterns, converter, state);
  populateCollectivePatterns(patterns, converter, state);
  populateStructuralPatterns(patterns, converter, state);
  if (state.target == Target::Cuda) {
    populateGpuElementwisePatterns(patterns, converter, state);
    populateGpuNormalizationPatterns(patterns, converter, state);
    populateGpuEmbeddingLossPatterns(patterns, converter, state);
    populateGpuDataMovementPatterns(patterns, converter, state);
    populateGpuOptimizerPatterns(patterns, converter, state);
  } else {
    populateCpuElementwisePatterns(patterns, converter, state);
    populateCpuNormalizationPatterns(patterns, converter, state);
    populateCpuEmbeddingLossPatterns(patterns, converter, state);
    populateCpuDataMovementPatterns(patterns, converter, state);
    populateCpuOptimizerPatterns(patterns, converter, state);
  }
}

LogicalResult FunctionLowering::check(const FrozenRewritePatternSet &frozen) {
  if (!fn.getBody().hasOneBlock())
    return fn.emitError() << "palm lowers functions with one block only";
  const auto &byOp = frozen.getOpSpecificNativePatterns();
  for (Operation &op : fn.getBody().front().without_terminator()) {
    // A fusion's body and a pad's padding value go with their op.
    if (op.getNumRegions() && !isa<FusionOp, tensor::PadOp>(op))
      return op.emitOpError() << "has regions, which palm does not lower";
    if (isa<ShardingConstraintOp>(op))
      return op.emitOpError() << "is global-level; partition first";
    if (!isElementwise(&op) && !byOp.count(op.getName()))
      return op.emitOpError() << "cannot be lowered by palm";
  }
  return success();
}

void FunctionLowering::plan() {
  Block &body = fn.getBody().front();
  DenseMap<Operation *, int64_t> position;
  int64_t index = 0;
  for (Operation &op : body)
    position[&op] = index++;
  int64_t end = index;
  // A value lives until the last read of it or of a view of it.
  DenseMap<Value, int64_t> lastUse;
  for (Operation &op : body)
    for (Value operand : op.getOperands())
      if (isa<RankedTensorType>(operand.getType())) {
        Value s = storage(operand);
        int64_t at = isa<func::ReturnOp>(op) ? end : position[&op];
        lastUse[s] = std::max(lastUse.lookup(s), at);
      }
  SmallVector<Value> values;
  SmallVector<BufferRequest> requests;
  for (Operation &op : body.without_terminator()) {
    if (isa<ReshapeOp, arith::ConstantOp>(op))
      continue;
    for (Value r : op.getResults()) {
      RankedTensorType t = tensorType(r);
      values.push_back(r);
      requests.push_back({tensorBytes(t.getShape(), t.getElementType()),
                          position[&op],
                          std::max(lastUse.lookup(r), position[&op])});
    }
  }
  // Scratch lives only during its op.
  SmallVector<Operation *> scratchOps;
  if (state.target == Target::Cuda)
    for (Operation &op : body.without_terminator())
      if (int64_t bytes = gpuScratchBytes(&op)) {
        scratchOps.push_back(&op);
        requests.push_back({bytes, position[&op], position[&op]});
      }
  SmallVector<int64_t> offsets = planArena(requests, 256, arenaBytes);
  for (auto [v, offset] : llvm::zip(values, offsets))
    arenaOffset.push_back({v, offset});
  for (auto [op, offset] : llvm::zip(
           scratchOps, ArrayRef<int64_t>(offsets).drop_front(values.size())))
    scratchOffset.push_back({op, offset});
}

func::FuncOp FunctionLowering::buildEntry() {
  OpBuilder b(fn);
  Location loc = fn.getLoc();
  Type ptr = LLVM::LLVMPointerType::get(fn.getContext());
  auto entry = func::FuncOp::create(b, loc, "palm_forward",
                                    b.getFunctionType({ptr, ptr, ptr}, {}));
  Block *block = entry.addEntryBlock();
  b.setInsertionPointToStart(block);
  state.buffers = block->getArgument(0);
  state.arena = block->getArgument(1);
  state.ctx = block->getArgument(2);
  state.numArgs = fn.getNumArguments();
  auto i64 = [&](int64_t v) {
    return arith::ConstantIntOp::create(b, loc, v, 64).getResult();
  };
  Block &body = fn.getBody().front();
  SmallVector<Value> argPtrs;
  for (BlockArgument arg : body.getArguments()) {
    Value slot = LLVM::GEPOp::create(b, loc, ptr, ptr, state.buffers,
                                     ValueRange{i64(arg.getArgNumber())});
    argPtrs.push_back(LLVM::LoadOp::create(b, loc, ptr, slot));
  }
  auto arenaAt = [&](int64_t offset) {
    return LLVM::GEPOp::create(b, loc, ptr, b.getI8Type(), state.arena,
                               ValueRange{i64(offset)})
        .getResult();
  };
  for (auto [v, offset] : arenaOffset)
    state.resultPtrs[v] = arenaAt(offset);
  for (auto [op, offset] : scratchOffset)
    state.scratch[op] = arenaAt(offset);
  // The function's ops move into the entry; its arguments become views of
  // their buffers until the conversion folds the casts away.
  for (auto [arg, p] : llvm::zip(body.getArguments(), argPtrs))
    arg.replaceAllUsesWith(
        UnrealizedConversionCastOp::create(b, loc, arg.getType(), p)
            .getResult(0));
  block->getOperations().splice(block->end(), body.getOperations());
  return entry;
}

LogicalResult FunctionLowering::convert(func::FuncOp entry,
                                        const FrozenRewritePatternSet &frozen) {
  ConversionTarget target(*fn.getContext());
  target.addLegalDialect<LLVM::LLVMDialect, scf::SCFDialect,
                         arith::ArithDialect, math::MathDialect,
                         func::FuncDialect>();
  target.addIllegalDialect<tensor::TensorDialect>();
  // The body of a fusion, and a pad's padding value, go with their op.
  target.addDynamicallyLegalDialect<PalmDialect>(
      [](Operation *op) { return isa<FusionOp>(op->getParentOp()); });
  target.addDynamicallyLegalOp<tensor::YieldOp>(
      [](Operation *op) { return isa<tensor::PadOp>(op->getParentOp()); });
  target.addDynamicallyLegalOp<func::ReturnOp>(
      [](func::ReturnOp op) { return op.getNumOperands() == 0; });
  target.addDynamicallyLegalOp<arith::ConstantOp>(
      [](arith::ConstantOp op) { return !isa<TensorType>(op.getType()); });
  // A large fusion's outlined loop is passed to the runtime by address: a
  // func.constant cast to !llvm.ptr, which the LLVM lowering folds.
  target.addLegalOp<UnrealizedConversionCastOp>();
  ConversionConfig config;
  config.foldingMode = DialectConversionFoldingMode::Never;
  // A pattern that refuses its op has said why; the conversion's own
  // "failed to legalize" would only repeat it.
  ScopedDiagnosticHandler quiet(fn.getContext(), [&](Diagnostic &diag) {
    return success(state.reported &&
                   StringRef(diag.str()).starts_with("failed to legalize"));
  });
  if (failed(applyPartialConversion(entry, target, frozen, config)))
    return failure();
  SmallVector<UnrealizedConversionCastOp> casts;
  entry.walk([&](UnrealizedConversionCastOp c) { casts.push_back(c); });
  reconcileUnrealizedCasts(casts);
  return success();
}

LogicalResult FunctionLowering::describe() {
  FailureOr<std::string> info = describeProgram(
      fn, mesh, state.groups, state.target == Target::Cuda);
  if (failed(info))
    return failure();
  OpBuilder b = OpBuilder::atBlockBegin(state.module.getBody());
  Location loc = fn.getLoc();
  std::string text = *info;
  text.push_back('\0');
  LLVM::GlobalOp::create(
      b, loc, LLVM::LLVMArrayType::get(b.getI8Type(), text.size()),
      /*isConstant=*/true, LLVM::Linkage::External, "palm_program_info",
      b.getStringAttr(text));
  LLVM::GlobalOp::create(b, loc, b.getI64Type(), /*isConstant=*/true,
                         LLVM::Linkage::External, "palm_arena_bytes",
                         b.getI64IntegerAttr(arenaBytes));
  return success();
}

LogicalResult FunctionLowering::run() {
  populatePatterns();
  FrozenRewritePatternSet frozen(std::move(patterns));
  if (failed(check(frozen)))
    return failure();
  legalizeForTarget(fn, state.target);
  fuseElementwise(fn);
  if (state.target == Target::Cuda) {
    state.gpu.emplace(state.module);
    // The launches point at the kernels' PTX, filled in after compilation
    // by -palm-embed-gpu-kernels.
    OpBuilder b = OpBuilder::atBlockBegin(state.module.getBody());
    LLVM::GlobalOp::create(
        b, fn.getLoc(), LLVM::LLVMArrayType::get(b.getI8Type(), 1),
        /*isConstant=*/true, LLVM::Linkage::Private, "__palm_gpu_image",
        b.getStringAttr(StringRef("\0", 1)));
  }
  plan();
  func::FuncOp entry = buildEntry();
  if (failed(convert(entry, frozen)) || failed(describe()))
    return failure();
  fn.erase();
  return success();
}

namespace {

/// Lowers the module's one function to the runtime entry point.
struct LowerToRuntimePass
    : public palm::impl::PalmLowerToRuntimeBase<LowerToRuntimePass> {
  using PalmLowerToRuntimeBase::PalmLowerToRuntimeBase;
  void runOnOperation() override;
};

} // namespace

void LowerToRuntimePass::runOnOperation() {
  ModuleOp module = getOperation();
  if (getLevel(module) != Level::Local) {
    module.emitError() << "palm-lower-to-runtime needs a local-level "
                          "module; run -palm-spmd-pipeline first";
    return signalPassFailure();
  }
  SmallVector<func::FuncOp> fns;
  for (auto fn : module.getOps<func::FuncOp>())
    if (!fn.isExternal())
      fns.push_back(fn);
  if (fns.size() != 1) {
    module.emitError() << "palm lowers modules with exactly one function, "
                          "found "
                       << fns.size();
    return signalPassFailure();
  }
  SmallVector<MeshOp> meshes(module.getOps<MeshOp>());
  if (meshes.size() > 1) {
    module.emitError() << "palm lowers modules with at most one mesh";
    return signalPassFailure();
  }
  if (target != "cpu" && target != "cuda") {
    module.emitError() << "unknown target '" << target
                       << "' (expected cpu or cuda)";
    return signalPassFailure();
  }
  MeshOp mesh = meshes.empty() ? MeshOp() : meshes.front();
  Target t = target == "cuda" ? Target::Cuda : Target::Cpu;
  if (failed(FunctionLowering(fns.front(), mesh, t).run()))
    return signalPassFailure();
  // Meshes and the level mark are compile-time only.
  for (MeshOp m : llvm::make_early_inc_range(module.getOps<MeshOp>()))
    m.erase();
  module->removeAttr(PalmDialect::kLevelAttrName);
}
