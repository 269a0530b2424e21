//===- Lowering.cpp - shared pieces of the palm-to-runtime patterns -------===//

#include "PopulatePatterns.h"

#include "mlir/IR/BuiltinTypes.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

int64_t mlir::palm::lowering::product(ArrayRef<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

int32_t LoweringState::groupOf(ArrayRef<StringAttr> axes) {
  for (auto [i, g] : llvm::enumerate(groups))
    if (ArrayRef<StringAttr>(g) == axes)
      return i;
  groups.emplace_back(axes.begin(), axes.end());
  return groups.size() - 1;
}

PointerTypeConverter::PointerTypeConverter(MLIRContext *ctx) {
  addConversion([](Type t) { return t; });
  addConversion([ctx](RankedTensorType) -> Type {
    return LLVM::LLVMPointerType::get(ctx);
  });
}

Value Emitter::f32(double v) {
  return arith::ConstantFloatOp::create(b, loc, b.getF32Type(),
                                        APFloat(static_cast<float>(v)));
}

Value Emitter::group(ArrayAttr axes) {
  AxisList list;
  for (Attribute a : axes)
    list.push_back(cast<StringAttr>(a));
  return group(list);
}

Value Emitter::constArray(ArrayRef<int64_t> values) {
  SmallVector<int64_t> data(values.begin(), values.end());
  if (data.empty())
    data.push_back(0);
  std::string name = "__palm_i64_" + std::to_string(state.constCounter++);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(state.module.getBody());
    auto type = LLVM::LLVMArrayType::get(b.getI64Type(), data.size());
    LLVM::GlobalOp::create(
        b, loc, type, /*isConstant=*/true, LLVM::Linkage::Private, name,
        DenseElementsAttr::get(
            RankedTensorType::get({int64_t(data.size())}, b.getI64Type()),
            ArrayRef<int64_t>(data)));
  }
  return LLVM::AddressOfOp::create(b, loc, ptrType(), name);
}

Value Emitter::stackArray(ArrayRef<Value> values) {
  Value array = LLVM::AllocaOp::create(
      b, loc, ptrType(), b.getI64Type(),
      i64(std::max<size_t>(values.size(), 1)), /*alignment=*/8);
  for (auto [i, v] : llvm::enumerate(values)) {
    Value slot =
        LLVM::GEPOp::create(b, loc, ptrType(), b.getI64Type(), array,
                            ArrayRef<LLVM::GEPArg>{int32_t(i)});
    LLVM::StoreOp::create(b, loc, v, slot);
  }
  return array;
}

Value Emitter::constString(StringRef text) {
  auto [it, inserted] = state.strings.try_emplace(
      text, "__palm_str_" + std::to_string(state.strings.size()));
  if (inserted) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(state.module.getBody());
    std::string data = text.str();
    data.push_back('\0');
    LLVM::GlobalOp::create(b, loc,
                           LLVM::LLVMArrayType::get(b.getI8Type(), data.size()),
                           /*isConstant=*/true, LLVM::Linkage::Private,
                           it->second, b.getStringAttr(data));
  }
  return LLVM::AddressOfOp::create(b, loc, ptrType(), it->second);
}

std::pair<Value, Value> Emitter::shardExtent(DimShardAttr shard,
                                             int64_t local) {
  Value index =
      call(RuntimeCall::palmrt_group_index, {ctx(), group(shard.getAxes())});
  Value offset = arith::MulIOp::create(b, loc, index, i64(local));
  Value rest = arith::SubIOp::create(b, loc, i64(shard.getSize()), offset);
  Value valid = arith::MinSIOp::create(
      b, loc, arith::MaxSIOp::create(b, loc, rest, i64(0)), i64(local));
  return {offset, valid};
}

SmallVector<Value> Emitter::tokenExtents(ArrayRef<int64_t> tokens,
                                         ArrayAttr shards) {
  SmallVector<Value> extents;
  for (auto [d, size] : llvm::enumerate(tokens)) {
    auto shard = shards ? dyn_cast<DimShardAttr>(shards[d]) : DimShardAttr();
    extents.push_back(shard ? shardExtent(shard, size).second : i64(size));
  }
  return extents;
}

void Emitter::launch(StringRef kernel, int64_t work, bool warpPerRow,
                     ArrayRef<Value> args) {
  int64_t threads = std::max<int64_t>(1, warpPerRow ? work * 32 : work);
  // Kernels loop over their work, so the grid only needs to fill the GPU.
  int64_t grid = std::min<int64_t>((threads + kBlock - 1) / kBlock, 65535);
  Value array = LLVM::AllocaOp::create(b, loc, ptrType(), ptrType(),
                                       i64(args.size()), /*alignment=*/8);
  for (auto [i, arg] : llvm::enumerate(args)) {
    Value slot = LLVM::AllocaOp::create(b, loc, ptrType(), arg.getType(),
                                        i64(1), /*alignment=*/8);
    LLVM::StoreOp::create(b, loc, arg, slot);
    Value entry = LLVM::GEPOp::create(b, loc, ptrType(), ptrType(), array,
                                      ArrayRef<LLVM::GEPArg>{int32_t(i)});
    LLVM::StoreOp::create(b, loc, slot, entry);
  }
  Value image =
      LLVM::AddressOfOp::create(b, loc, ptrType(), "__palm_gpu_image");
  call(RuntimeCall::palmrt_launch,
       {ctx(), image, constString(kernel), i64(grid), i64(1), i64(1),
        i64(kBlock), i64(1), i64(1), i32(0), array});
}

std::string mlir::palm::lowering::typeName(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

std::string mlir::palm::lowering::shapeKey(ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  llvm::interleave(shape, os, "x");
  return s;
}
