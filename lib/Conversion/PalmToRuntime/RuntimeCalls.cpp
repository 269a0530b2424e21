//===- RuntimeCalls.cpp - declarations from palmrt_calls.def --------------===//

#include "RuntimeCalls.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMTypes.h"
#include "llvm/Support/ErrorHandling.h"

#include <type_traits>

using namespace mlir;
using namespace mlir::palm::lowering;

/// The MLIR type compiled code passes for the C type `T`: every pointer is
/// an opaque !llvm.ptr, integers keep their width.
template <typename T> static Type typeFor(MLIRContext *ctx) {
  if constexpr (std::is_pointer_v<T>) {
    return LLVM::LLVMPointerType::get(ctx);
  } else if constexpr (std::is_same_v<T, float>) {
    return Float32Type::get(ctx);
  } else {
    static_assert(std::is_integral_v<T>, "palmrt passes ints, floats and "
                                         "pointers only");
    return IntegerType::get(ctx, 8 * sizeof(T));
  }
}

namespace {
template <typename Fn> struct Signature;
/// The function type of a C function type.
template <typename R, typename... Args> struct Signature<R(Args...)> {
  static FunctionType get(MLIRContext *ctx) {
    SmallVector<Type> results;
    if constexpr (!std::is_void_v<R>)
      results.push_back(typeFor<R>(ctx));
    return FunctionType::get(ctx, {typeFor<Args>(ctx)...}, results);
  }
};

struct CallInfo {
  const char *name;
  FunctionType (*signature)(MLIRContext *);
};
} // namespace

static const CallInfo kCalls[] = {
#define PALMRT_CALL(name, result, ...)                                         \
  {#name, &Signature<result(__VA_ARGS__)>::get},
#include "palmrt/palmrt_calls.def"
};

StringRef mlir::palm::lowering::runtimeCallName(RuntimeCall call) {
  return kCalls[static_cast<int>(call)].name;
}

Value mlir::palm::lowering::emitRuntimeCall(OpBuilder &b, Location loc,
                                            ModuleOp module, RuntimeCall call,
                                            ValueRange args) {
  const CallInfo &info = kCalls[static_cast<int>(call)];
  FunctionType type = info.signature(b.getContext());
  if (TypeRange(args) != TypeRange(type.getInputs()))
    llvm::report_fatal_error(llvm::Twine("palm: the lowering passes ") +
                             info.name +
                             " arguments that differ from palmrt.h");
  if (!module.lookupSymbol<func::FuncOp>(info.name)) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    func::FuncOp::create(b, loc, info.name, type).setPrivate();
  }
  auto op = func::CallOp::create(b, loc, info.name, type.getResults(), args);
  return type.getNumResults() ? op.getResult(0) : Value();
}

std::optional<palmrt_dtype> mlir::palm::lowering::runtimeDtype(Type t) {
  if (t.isF32())
    return PALMRT_F32;
  if (t.isBF16())
    return PALMRT_BF16;
  if (t.isInteger(32))
    return PALMRT_I32;
  if (t.isInteger(64))
    return PALMRT_I64;
  return std::nullopt;
}
