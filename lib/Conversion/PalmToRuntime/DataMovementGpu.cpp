//===- DataMovementGpu.cpp - transposes, slices, pads, masks (CUDA) -------===//
//
// Every data movement op is one index-mapping kernel: a thread per element
// of the tensor walked (the result, or for concatenation each input), which
// maps its coordinates to the element it reads (or, for concatenation,
// writes), optionally zeroing it.
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

using K = GpuKernels;

namespace {

/// Maps a walked element (its coordinates, its flat index, the kernel's
/// extra arguments) to the flat index of the other tensor's element and an
/// i1 saying whether to keep it (null: always).
using IndexMap = std::function<std::pair<Value, Value>(
    OpBuilder &, Location, ArrayRef<Value>, Value, ArrayRef<Value>)>;

/// One index-mapping kernel: what it walks and how it maps.
struct IndexMapKernel {
  std::string key;
  ArrayRef<int64_t> walked;
  Type element;
  IndexMap map;
  /// Scalars the kernel takes after its two pointers.
  SmallVector<Value> extra;
  /// Copy walked elements of the input to mapped places of the output
  /// (else: mapped elements of the input to walked places).
  bool scatter = false;

  void launch(Emitter &e, GpuKernels &gpu, Value in, Value out) const;
};

void IndexMapKernel::launch(Emitter &e, GpuKernels &gpu, Value in,
                            Value out) const {
  SmallVector<Type> types(2, e.ptrType());
  for (Value v : extra)
    types.push_back(v.getType());
  StringRef kernel =
      gpu.get(key, types, [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
        K::gridStride(b, l, K::i64(b, l, product(walked)), [&](Value i) {
          SmallVector<Value> c = K::coordinates(b, l, i, walked);
          auto [other, keep] = map(b, l, c, i, a.drop_front(2));
          if (scatter) {
            K::store(b, l, K::load(b, l, element, a[0], i), a[1], other);
            return;
          }
          Value x = K::load(b, l, element, a[0], other);
          if (keep)
            x = arith::SelectOp::create(b, l, keep, x, K::zero(b, l, element));
          K::store(b, l, x, a[1], i);
        });
      });
  SmallVector<Value> args = {in, out};
  llvm::append_range(args, extra);
  e.launch(kernel, product(walked), false, args);
}

std::string keyOf(StringRef what, Type t,
                  ArrayRef<ArrayRef<int64_t>> shapes) {
  std::string key = (what + ":" + typeName(t)).str();
  for (ArrayRef<int64_t> shape : shapes)
    key += ":" + shapeKey(shape);
  return key;
}

/// palm.mask_padding -> elements past the valid extent of `dim` zeroed.
struct MaskPaddingToKernel : RuntimePattern<MaskPaddingOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(MaskPaddingOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    ArrayRef<int64_t> x = op.getInput().getType().getShape();
    Type t = op.getInput().getType().getElementType();
    int64_t dim = op.getDim();
    Value valid = e.shardExtent(op.getShard(), x[dim]).second;
    IndexMapKernel kernel{
        keyOf("mask", t, {x}) + ":" + std::to_string(dim), x, t,
        [&](OpBuilder &b, Location l, ArrayRef<Value> c, Value i,
            ArrayRef<Value> extra) -> std::pair<Value, Value> {
          return {i, arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt,
                                           c[dim], extra[0])};
        },
        {valid}};
    kernel.launch(e, *state.gpu, adaptor.getInput(), resultPtr(op.getResult()));
    return success();
  }
};

/// palm.transpose -> each result element reads its permuted source.
struct TransposeToKernel : RuntimePattern<TransposeOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(TransposeOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    ArrayRef<int64_t> in = op.getInput().getType().getShape();
    ArrayRef<int64_t> perm = op.getPermutation();
    Type t = op.getInput().getType().getElementType();
    IndexMapKernel kernel{
        keyOf("transpose", t, {in, perm}), op.getType().getShape(), t,
        [&](OpBuilder &b, Location l, ArrayRef<Value> c, Value,
            ArrayRef<Value>) -> std::pair<Value, Value> {
          SmallVector<Value> inCoords(in.size());
          for (auto [j, p] : llvm::enumerate(perm))
            inCoords[p] = c[j];
          return {K::flatIndex(b, l, inCoords, in), Value()};
        },
        {}};
    kernel.launch(e, *state.gpu, adaptor.getInput(), resultPtr(op.getResult()));
    return success();
  }
};

/// tensor.extract_slice -> each result element reads its offset source.
struct ExtractSliceToKernel : RuntimePattern<tensor::ExtractSliceOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(tensor::ExtractSliceOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(refuseIf(checkStaticSlice(op))))
      return failure();
    ArrayRef<int64_t> in = op.getSourceType().getShape(),
                      out = op.getType().getShape();
    SmallVector<int64_t> offsets(op.getStaticOffsets());
    Type t = op.getType().getElementType();
    IndexMapKernel kernel{
        keyOf("slice", t, {in, out, offsets}), out, t,
        [&](OpBuilder &b, Location l, ArrayRef<Value> c, Value,
            ArrayRef<Value>) -> std::pair<Value, Value> {
          return {K::flatIndex(b, l, c, in, offsets), Value()};
        },
        {}};
    kernel.launch(e, *state.gpu, adaptor.getSource(),
                  resultPtr(op.getResult()));
    return success();
  }
};

/// tensor.pad -> each result element reads its source, or is zero.
struct PadToKernel : RuntimePattern<tensor::PadOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(tensor::PadOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(refuseIf(checkZeroHighPad(op))))
      return failure();
    ArrayRef<int64_t> in = op.getSourceType().getShape(),
                      out = op.getResultType().getShape();
    Type t = op.getResultType().getElementType();
    IndexMapKernel kernel{
        keyOf("pad", t, {in, out}), out, t,
        [&](OpBuilder &b, Location l, ArrayRef<Value> c, Value,
            ArrayRef<Value>) -> std::pair<Value, Value> {
          Value inside = arith::ConstantIntOp::create(b, l, 1, 1);
          SmallVector<Value> clamped;
          for (auto [d, coord] : llvm::enumerate(c)) {
            Value ok = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt,
                                             coord, K::i64(b, l, in[d]));
            inside = arith::AndIOp::create(b, l, inside, ok);
            clamped.push_back(
                arith::SelectOp::create(b, l, ok, coord, K::i64(b, l, 0)));
          }
          return {K::flatIndex(b, l, clamped, in), inside};
        },
        {}};
    kernel.launch(e, *state.gpu, adaptor.getSource(),
                  resultPtr(op.getResult()));
    return success();
  }
};

/// tensor.concat -> one kernel per input writing it at its offset.
struct ConcatToKernels : RuntimePattern<tensor::ConcatOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(tensor::ConcatOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    int64_t dim = op.getDim(), offset = 0;
    ArrayRef<int64_t> out = op.getType().getShape();
    for (auto [input, ptr] : llvm::zip(op.getInputs(), adaptor.getInputs())) {
      ArrayRef<int64_t> in = tensorType(input).getShape();
      SmallVector<int64_t> offsets(in.size(), 0);
      offsets[dim] = offset;
      Type t = tensorType(input).getElementType();
      IndexMapKernel kernel{
          keyOf("insert", t, {in, out, offsets}), in, t,
          [&](OpBuilder &b, Location l, ArrayRef<Value> c, Value,
              ArrayRef<Value>) -> std::pair<Value, Value> {
            return {K::flatIndex(b, l, c, out, offsets), Value()};
          },
          {},
          /*scatter=*/true};
      kernel.launch(e, *state.gpu, ptr, resultPtr(op.getResult()));
      offset += in[dim];
    }
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateGpuDataMovementPatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<MaskPaddingToKernel, TransposeToKernel, ExtractSliceToKernel,
               PadToKernel, ConcatToKernels>(converter, state);
}
