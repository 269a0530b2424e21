//===- GpuKernels.cpp - generated GPU kernels for --target cuda -----------===//

#include "GpuKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/ADT/StringExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::palm;

GpuKernels::GpuKernels(ModuleOp module) {
  MLIRContext *ctx = module.getContext();
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(ctx));
  for (auto existing : module.getOps<gpu::GPUModuleOp>())
    if (existing.getName() == "palm_kernels")
      kernels = existing;
  if (kernels)
    return;
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module.getBody());
  // PTX for sm_80 runs on every later GPU (the driver compiles it).
  auto target = NVVM::NVVMTargetAttr::get(ctx, /*optLevel=*/3,
                                          "nvptx64-nvidia-cuda", "sm_80");
  kernels = gpu::GPUModuleOp::create(b, module.getLoc(), "palm_kernels",
                                     b.getArrayAttr({target}));
}

SmallVector<Type> GpuKernels::argTypes(MLIRContext *ctx, int pointers,
                                       int ints, int floats) {
  SmallVector<Type> types(pointers, LLVM::LLVMPointerType::get(ctx));
  types.append(ints, IntegerType::get(ctx, 64));
  types.append(floats, Float32Type::get(ctx));
  return types;
}

StringRef GpuKernels::get(StringRef key, ArrayRef<Type> argTypes,
                          const KernelBody &body) {
  auto found = names.find(key);
  if (found != names.end())
    return found->second;
  // palm_k<N>_<kind>, the kind being the key's first field (ew for an
  // elementwise tree), so traces and profiles say what a kernel does.
  std::string kind = key.split(':').first.str();
  for (char &c : kind)
    if (!llvm::isAlnum(c))
      c = '_';
  std::string name = "palm_k" + std::to_string(counter++) + "_" + kind;
  OpBuilder b(kernels.getContext());
  b.setInsertionPointToEnd(kernels.getBody());
  Location loc = kernels.getLoc();
  auto fn = gpu::GPUFuncOp::create(b, loc, name,
                                   b.getFunctionType(argTypes, {}));
  fn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  Block &entry = fn.getBody().front();
  b.setInsertionPointToStart(&entry);
  SmallVector<Value> args(entry.getArguments().begin(),
                          entry.getArguments().end());
  body(b, loc, args);
  gpu::ReturnOp::create(b, loc);
  return names.try_emplace(key, name).first->second;
}

Value GpuKernels::i64(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, v, 64);
}

SmallVector<Value> GpuKernels::coordinates(OpBuilder &b, Location loc, Value i,
                                           ArrayRef<int64_t> shape) {
  SmallVector<Value> coords(shape.size());
  Value rest = i;
  for (int64_t d = shape.size() - 1; d >= 0; --d) {
    Value size = i64(b, loc, shape[d]);
    coords[d] = arith::RemSIOp::create(b, loc, rest, size);
    rest = arith::DivSIOp::create(b, loc, rest, size);
  }
  return coords;
}

Value GpuKernels::flatIndex(OpBuilder &b, Location loc, ArrayRef<Value> coords,
                            ArrayRef<int64_t> shape,
                            ArrayRef<int64_t> offsets) {
  Value index = i64(b, loc, 0);
  for (auto [d, c] : llvm::enumerate(coords)) {
    Value coord = c;
    if (!offsets.empty() && offsets[d])
      coord = arith::AddIOp::create(b, loc, coord, i64(b, loc, offsets[d]));
    index = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, index, i64(b, loc, shape[d])),
        coord);
  }
  return index;
}

void GpuKernels::inLaneZero(OpBuilder &b, Location loc, Value lane,
                            const std::function<void()> &then) {
  Value isZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane,
                                       i64(b, loc, 0));
  auto ifOp = scf::IfOp::create(b, loc, isZero, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&ifOp.getThenRegion().front());
  then();
}

Value GpuKernels::zero(OpBuilder &b, Location loc, Type type) {
  return arith::ConstantOp::create(b, loc, type, b.getZeroAttr(type));
}

Value GpuKernels::f32(OpBuilder &b, Location loc, double v) {
  return arith::ConstantFloatOp::create(b, loc, b.getF32Type(),
                                        APFloat(static_cast<float>(v)));
}

static Value toI64(OpBuilder &b, Location loc, Value index) {
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), index);
}

/// The id of `op` along x, as i64. Loops in kernels run over i64 (never
/// index), so no block argument of the converted kernels is an index.
template <typename OpT>
static Value idX(OpBuilder &b, Location loc) {
  return toI64(b, loc, OpT::create(b, loc, gpu::Dimension::x));
}

void GpuKernels::gridStride(OpBuilder &b, Location loc, Value n,
                            const std::function<void(Value)> &body) {
  Value tid = idX<gpu::ThreadIdOp>(b, loc);
  Value bid = idX<gpu::BlockIdOp>(b, loc);
  Value bdim = idX<gpu::BlockDimOp>(b, loc);
  Value gdim = idX<gpu::GridDimOp>(b, loc);
  Value start = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, bid, bdim), tid);
  Value stride = arith::MulIOp::create(b, loc, gdim, bdim);
  scf::ForOp::create(b, loc, start, n, stride, ValueRange{},
                     [&](OpBuilder &nb, Location l, Value iv, ValueRange) {
                       body(iv);
                       scf::YieldOp::create(nb, l);
                     });
}

void GpuKernels::warpRows(OpBuilder &b, Location loc, Value rows,
                          const std::function<void(Value, Value)> &body) {
  Value tid = idX<gpu::ThreadIdOp>(b, loc);
  Value bid = idX<gpu::BlockIdOp>(b, loc);
  Value bdim = idX<gpu::BlockDimOp>(b, loc);
  Value gdim = idX<gpu::GridDimOp>(b, loc);
  Value c32 = i64(b, loc, 32);
  Value global = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, bid, bdim), tid);
  Value warp = arith::DivUIOp::create(b, loc, global, c32);
  Value lane = arith::RemUIOp::create(b, loc, tid, c32);
  Value warps = arith::DivUIOp::create(
      b, loc, arith::MulIOp::create(b, loc, gdim, bdim), c32);
  scf::ForOp::create(b, loc, warp, rows, warps, ValueRange{},
                     [&](OpBuilder &nb, Location l, Value iv, ValueRange) {
                       body(iv, lane);
                       scf::YieldOp::create(nb, l);
                     });
}

Value GpuKernels::warpReduce(OpBuilder &b, Location loc, Value v, bool max) {
  for (int32_t offset : {16, 8, 4, 2, 1}) {
    Value other = gpu::ShuffleOp::create(b, loc, v, offset, 32,
                                         gpu::ShuffleMode::XOR)
                      .getShuffleResult();
    v = max ? arith::MaximumFOp::create(b, loc, v, other).getResult()
            : arith::AddFOp::create(b, loc, v, other).getResult();
  }
  return v;
}

SmallVector<Value> GpuKernels::laneLoop(
    OpBuilder &b, Location loc, Value lane, Value count, ArrayRef<Value> init,
    const std::function<SmallVector<Value>(Value, ValueRange)> &step) {
  return laneChunks(b, loc, lane, Value(), count, 1, init, step);
}

SmallVector<Value> GpuKernels::laneChunks(
    OpBuilder &b, Location loc, Value lane, Value from, Value count,
    int64_t width, ArrayRef<Value> init,
    const std::function<SmallVector<Value>(Value, ValueRange)> &step) {
  Value start = width == 1 ? lane
                           : arith::MulIOp::create(b, loc, lane,
                                                   i64(b, loc, width))
                                 .getResult();
  if (from)
    start = arith::AddIOp::create(b, loc, from, start);
  auto loop = scf::ForOp::create(
      b, loc, start, count, i64(b, loc, 32 * width), init,
      [&](OpBuilder &nb, Location l, Value iv, ValueRange acc) {
        SmallVector<Value> next = step(iv, acc);
        scf::YieldOp::create(nb, l, next);
      });
  return SmallVector<Value>(loop.getResults());
}

SmallVector<Value> GpuKernels::loadVector(OpBuilder &b, Location loc,
                                          Type type, Value base, Value index,
                                          int64_t width) {
  if (width == 1)
    return {load(b, loc, type, base, index)};
  Value ptr = LLVM::GEPOp::create(
      b, loc, LLVM::LLVMPointerType::get(b.getContext()), type, base,
      ValueRange{index});
  Value vector = LLVM::LoadOp::create(
      b, loc, VectorType::get({width}, type), ptr,
      /*alignment=*/width * type.getIntOrFloatBitWidth() / 8);
  SmallVector<Value> values;
  for (int64_t e = 0; e < width; ++e)
    values.push_back(LLVM::ExtractElementOp::create(
        b, loc, vector, arith::ConstantIntOp::create(b, loc, e, 32)));
  return values;
}

void GpuKernels::storeVector(OpBuilder &b, Location loc, Value base,
                             Value index, ArrayRef<Value> values) {
  if (values.size() == 1)
    return store(b, loc, values[0], base, index);
  Type type = values[0].getType();
  int64_t width = values.size();
  Value vector = LLVM::PoisonOp::create(b, loc, VectorType::get({width}, type));
  for (auto [e, v] : llvm::enumerate(values))
    vector = LLVM::InsertElementOp::create(
        b, loc, vector, v,
        arith::ConstantIntOp::create(b, loc, static_cast<int64_t>(e), 32));
  Value ptr = LLVM::GEPOp::create(
      b, loc, LLVM::LLVMPointerType::get(b.getContext()), type, base,
      ValueRange{index});
  LLVM::StoreOp::create(b, loc, vector, ptr,
                        /*alignment=*/width * type.getIntOrFloatBitWidth() /
                            8);
}

SmallVector<Value> GpuKernels::loadF32s(OpBuilder &b, Location loc, Type type,
                                        Value base, Value index,
                                        int64_t width) {
  SmallVector<Value> values = loadVector(b, loc, type, base, index, width);
  if (!type.isF32())
    for (Value &x : values)
      x = arith::ExtFOp::create(b, loc, b.getF32Type(), x);
  return values;
}

void GpuKernels::storeF32s(OpBuilder &b, Location loc, Type type, Value base,
                           Value index, ArrayRef<Value> values) {
  SmallVector<Value> narrowed(values.begin(), values.end());
  if (!type.isF32())
    for (Value &x : narrowed)
      x = arith::TruncFOp::create(b, loc, type, x);
  storeVector(b, loc, base, index, narrowed);
}

Value GpuKernels::vectorizable(OpBuilder &b, Location loc,
                               ArrayRef<Value> pointers, Value count,
                               int64_t width) {
  Value bits = arith::RemSIOp::create(b, loc, count, i64(b, loc, width));
  for (Value p : pointers)
    bits = arith::OrIOp::create(
        b, loc, bits,
        arith::AndIOp::create(
            b, loc, LLVM::PtrToIntOp::create(b, loc, b.getI64Type(), p),
            i64(b, loc, 15)));
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, bits,
                               i64(b, loc, 0));
}

Value GpuKernels::load(OpBuilder &b, Location loc, Type type, Value base,
                       Value index) {
  Value ptr = LLVM::GEPOp::create(
      b, loc, LLVM::LLVMPointerType::get(b.getContext()), type, base,
      ValueRange{index});
  return LLVM::LoadOp::create(b, loc, type, ptr);
}

void GpuKernels::store(OpBuilder &b, Location loc, Value value, Value base,
                       Value index) {
  Value ptr = LLVM::GEPOp::create(
      b, loc, LLVM::LLVMPointerType::get(b.getContext()), value.getType(),
      base, ValueRange{index});
  LLVM::StoreOp::create(b, loc, value, ptr);
}

Value GpuKernels::loadF32(OpBuilder &b, Location loc, Type type, Value base,
                          Value index) {
  Value v = load(b, loc, type, base, index);
  if (type.isF32())
    return v;
  return arith::ExtFOp::create(b, loc, b.getF32Type(), v);
}

void GpuKernels::storeF32(OpBuilder &b, Location loc, Type type, Value base,
                          Value index, Value value) {
  if (!type.isF32())
    value = arith::TruncFOp::create(b, loc, type, value);
  store(b, loc, value, base, index);
}

Value GpuKernels::exp(OpBuilder &b, Location loc, Value x) {
  Value scaled = arith::MulFOp::create(b, loc, x, f32(b, loc, M_LOG2E));
  return math::Exp2Op::create(b, loc, scaled);
}

Value GpuKernels::log(OpBuilder &b, Location loc, Value x) {
  Value l2 = math::Log2Op::create(b, loc, x);
  return arith::MulFOp::create(b, loc, l2, f32(b, loc, M_LN2));
}
