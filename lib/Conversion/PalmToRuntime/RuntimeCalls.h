//===- RuntimeCalls.h - the palmrt calls compiled code makes ----*- C++ -*-===//
//
// The lowering names runtime calls by this enum, generated from
// runtime/include/palmrt/palmrt_calls.def, and their declarations are built
// from the C types that table gives; runtime_abi_check.cc checks the table
// against palmrt.h. No lowering code spells a call's name or signature.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_LIB_CONVERSION_PALMTORUNTIME_RUNTIMECALLS_H
#define PALM_LIB_CONVERSION_PALMTORUNTIME_RUNTIMECALLS_H

#include "palmrt/palmrt.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

#include <optional>

namespace mlir::palm::lowering {

/// A function of palmrt.h that compiled code may call.
enum class RuntimeCall {
#define PALMRT_CALL(name, result, ...) name,
#include "palmrt/palmrt_calls.def"
};

/// The call's C name.
StringRef runtimeCallName(RuntimeCall call);

/// Calls `call` with `args`, declaring it in `module` with its palmrt.h
/// signature on first use. Returns its result, or null for a void call.
/// Arguments of other types than the signature's are a compiler bug and
/// abort with the call's name.
Value emitRuntimeCall(OpBuilder &b, Location loc, ModuleOp module,
                      RuntimeCall call, ValueRange args);

/// palmrt's code for element type `t`, if it has one.
std::optional<palmrt_dtype> runtimeDtype(Type t);

} // namespace mlir::palm::lowering

#endif // PALM_LIB_CONVERSION_PALMTORUNTIME_RUNTIMECALLS_H
