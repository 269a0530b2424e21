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
#include "llvm/ADT/DenseSet.h"

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
/// losses, summed by a second kernel in a fixed order; the partial sums of
/// the optimizer's and layer norm's reductions.
static int64_t gpuScratchBytes(Operation *op) {
  if (auto ce = dyn_cast<CrossEntropyOp>(op))
    return 4 * product(ce.getLogits().getType().getShape().drop_back());
  if (auto loss = dyn_cast<CrossEntropyLossOp>(op))
    return 4 * product(loss.getMax().getType().getShape());
  // A narrow embedding gradient is summed in f32 first.
  if (auto grad = dyn_cast<EmbeddingGradOp>(op);
      grad && !grad.getResult().getType().getElementType().isF32())
    return 4 * grad.getResult().getType().getNumElements();
  if (int64_t bytes = gpuOptimizerScratchBytes(op))
    return bytes;
  return gpuNormalizationScratchBytes(op);
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
  /// Fills `memory` (but the arena size) from the plan's `requests` for
  /// `values` (then scratch) over positions 0 .. `end`.
  void accountMemory(Block &body, ArrayRef<Value> values,
                     ArrayRef<BufferRequest> requests, int64_t end);
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
  MemoryPlan memory;
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
  // A GEMM that computes the add after it (foldAddsIntoGemms) writes the
  // add's result while it reads its own operands and the addend: the two
  // count as one op, so none of those shares bytes with the result.
  for (Operation &op : body)
    if (auto dot = dyn_cast<DotGeneralOp>(op))
      if (AddOp add = gemmAddendUser(dot))
        position[add] = position[&op];
  // A value lives until the last read of it or of a view of it.
  DenseMap<Value, int64_t> lastUse;
  for (Operation &op : body)
    for (Value operand : op.getOperands())
      if (isa<RankedTensorType>(operand.getType())) {
        Value s = storage(operand);
        int64_t at = isa<func::ReturnOp>(op) ? end : position[&op];
        lastUse[s] = std::max(lastUse.lookup(s), at);
      }
  // A value the function returns is computed straight into that result's
  // buffer (the first, if returned twice): it takes no arena space from its
  // definition to the end, and the return copies nothing. Views and
  // arguments are copied as before.
  for (auto [j, v] : llvm::enumerate(body.getTerminator()->getOperands())) {
    Operation *def = v.getDefiningOp();
    if (def && !isa<ReshapeOp, arith::ConstantOp>(def) &&
        !state.inResultBuffer.count(v))
      state.inResultBuffer[v] = j;
  }
  SmallVector<Value> values;
  SmallVector<BufferRequest> requests;
  for (Operation &op : body.without_terminator()) {
    if (isa<ReshapeOp, arith::ConstantOp>(op))
      continue;
    // Its result is the add's (foldAddsIntoGemms).
    if (auto dot = dyn_cast<DotGeneralOp>(op); dot && gemmAddendUser(dot))
      continue;
    for (Value r : op.getResults()) {
      if (state.inResultBuffer.count(r))
        continue;
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
  SmallVector<int64_t> offsets = planArena(requests, 256, memory.arenaBytes);
  accountMemory(body, values, requests, end);
  for (auto [v, offset] : llvm::zip(values, offsets))
    arenaOffset.push_back({v, offset});
  for (auto [op, offset] : llvm::zip(
           scratchOps, ArrayRef<int64_t>(offsets).drop_front(values.size())))
    scratchOffset.push_back({op, offset});
}

/// How many of the values live at the arena's peak the report lists.
static constexpr size_t kLargestAtPeak = 8;

/// The host runtime packs the pieces of a collective along a dimension that
/// is not the outermost into one staging buffer per direction, kept for the
/// run at the largest size asked for (runtime/src/host): their bytes.
static int64_t hostCollectiveStaging(Block &body) {
  int64_t in = 0, out = 0;
  auto outermost = [](RankedTensorType t, int64_t dim) {
    return llvm::all_of(t.getShape().take_front(dim),
                        [](int64_t d) { return d == 1; });
  };
  auto bytesOf = [](Value v) {
    RankedTensorType t = tensorType(v);
    return tensorBytes(t.getShape(), t.getElementType());
  };
  for (Operation &op : body) {
    if (auto gather = dyn_cast<AllGatherOp>(op)) {
      if (gather.getGroupSize() > 1 &&
          !outermost(tensorType(gather.getInput()), gather.getGatherDim()))
        out = std::max(out, bytesOf(gather.getResult()));
    } else if (auto scatter = dyn_cast<ReduceScatterOp>(op)) {
      if (scatter.getGroupSize() > 1 &&
          !outermost(tensorType(scatter.getInput()), scatter.getScatterDim()))
        in = std::max(in, bytesOf(scatter.getInput()));
    } else if (auto a2a = dyn_cast<AllToAllOp>(op)) {
      if (a2a.getGroupSize() <= 1)
        continue;
      RankedTensorType t = tensorType(a2a.getInput());
      if (!outermost(t, a2a.getSplitDim()))
        in = std::max(in, bytesOf(a2a.getInput()));
      SmallVector<int64_t> piece(t.getShape());
      piece[a2a.getSplitDim()] /= a2a.getGroupSize();
      if (!outermost(RankedTensorType::get(piece, t.getElementType()),
                     a2a.getConcatDim()))
        out = std::max(out, bytesOf(a2a.getInput()));
    }
  }
  return in + out;
}

void FunctionLowering::accountMemory(Block &body, ArrayRef<Value> values,
                                     ArrayRef<BufferRequest> requests,
                                     int64_t end) {
  // The gradients: what the optimizer's updates read as one, and the
  // pieces and partial sums they are made of (through sums, scaling,
  // layout changes and reductions: a tied embedding's two pieces, a
  // micro-batch's running sum, a gradient before its reduce-scatter).
  DenseSet<Value> gradients;
  SmallVector<Value> pending;
  for (Operation &op : body) {
    Value grad;
    if (auto moments = dyn_cast<AdafactorMomentsOp>(op))
      grad = moments.getGrad();
    else if (auto adamw = dyn_cast<AdamWApplyOp>(op))
      grad = adamw.getGrad();
    if (!grad || gradients.contains(storage(grad)))
      continue;
    memory.gradientBytes += tensorBytes(tensorType(grad).getShape(),
                                        tensorType(grad).getElementType());
    pending.push_back(grad);
  }
  while (!pending.empty()) {
    Value v = storage(pending.pop_back_val());
    if (!gradients.insert(v).second)
      continue;
    Operation *def = v.getDefiningOp();
    if (def && isa<AddOp, ScaleOp, TransposeOp, ConvertOp, FusionOp,
                   AllReduceOp, ReduceScatterOp, AllSliceOp>(def))
      for (Value operand : def->getOperands())
        if (isa<RankedTensorType>(operand.getType()))
          pending.push_back(operand);
  }
  // Live bytes at each position: +bytes at the definition, -bytes after the
  // last use.
  SmallVector<int64_t> live(end + 2, 0), liveGrads(end + 2, 0);
  for (auto [i, r] : llvm::enumerate(requests)) {
    live[r.def] += r.bytes;
    live[r.lastUse + 1] -= r.bytes;
    if (i < values.size() && gradients.contains(values[i])) {
      liveGrads[r.def] += r.bytes;
      liveGrads[r.lastUse + 1] -= r.bytes;
    }
  }
  int64_t now = 0, nowGrads = 0, peakAt = 0;
  for (int64_t at = 0; at <= end; ++at) {
    now += live[at];
    nowGrads += liveGrads[at];
    if (now > memory.peakLiveBytes) {
      memory.peakLiveBytes = now;
      memory.gradientsAtPeak = nowGrads;
      peakAt = at;
    }
  }
  if (state.target == Target::Cpu)
    memory.collectiveStaging = hostCollectiveStaging(body);
  // What fills the arena at its peak, for a reader who wants it smaller.
  SmallVector<std::pair<int64_t, size_t>> atPeak;
  for (auto [i, r] : llvm::enumerate(requests))
    if (r.def <= peakAt && peakAt <= r.lastUse)
      atPeak.push_back({r.bytes, i});
  llvm::stable_sort(atPeak, [](auto a, auto b) { return a.first > b.first; });
  for (auto [bytes, i] : ArrayRef(atPeak).take_front(kLargestAtPeak)) {
    std::string name = "(scratch)";
    if (i < values.size()) {
      Operation *def = values[i].getDefiningOp();
      name = def->getName().getStringRef().str();
      if (auto n = dyn_cast<NameLoc>(def->getLoc()))
        name = n.getName().str() + " (" + name + ")";
    }
    memory.largestAtPeak.push_back({name, bytes});
  }
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
  for (auto [j, v] : llvm::enumerate(body.getTerminator()->getOperands())) {
    auto in = state.inResultBuffer.find(v);
    if (in == state.inResultBuffer.end() || in->second != j)
      continue;
    Value slot = LLVM::GEPOp::create(b, loc, ptr, ptr, state.buffers,
                                     ValueRange{i64(state.numArgs + j)});
    state.resultPtrs[v] = LLVM::LoadOp::create(b, loc, ptr, slot);
  }
  for (auto [op, offset] : scratchOffset)
    state.scratch[op] = arenaAt(offset);
  // A GEMM computing an add writes the add's buffer.
  for (Operation &op : body)
    if (auto dot = dyn_cast<DotGeneralOp>(op))
      if (AddOp add = gemmAddendUser(dot))
        state.resultPtrs[dot.getResult()] =
            state.resultPtrs.lookup(add.getResult());
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
      fn, mesh, state.groups, memory, state.target == Target::Cuda);
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
                         b.getI64IntegerAttr(memory.arenaBytes));
  return success();
}

LogicalResult FunctionLowering::run() {
  populatePatterns();
  FrozenRewritePatternSet frozen(std::move(patterns));
  if (failed(check(frozen)))
    return failure();
  legalizeForTarget(fn, state.target);
  foldAddsIntoGemms(fn);
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
