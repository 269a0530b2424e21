//===- MemoryReport.cpp - palm-compile --memory-report --------------------===//
//
// Reads the program description the lowering embedded (palm_program_info:
// every argument and result with its local shape, and the arena plan's
// "memory") and prints one device's memory by what it holds.
//
//===----------------------------------------------------------------------===//

#include "palm/Compile/MemoryReport.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"

using namespace mlir;

namespace {

/// The bytes of one "args"/"results" entry's local shard.
int64_t localBytes(const llvm::json::Object &tensor) {
  int64_t elements = 1;
  if (const llvm::json::Array *shape = tensor.getArray("local_shape"))
    for (const llvm::json::Value &d : *shape)
      elements *= d.getAsInteger().value_or(0);
  llvm::StringRef dtype = tensor.getString("dtype").value_or("");
  int64_t width = dtype == "bf16" || dtype == "f16"   ? 2
                  : dtype == "i64" || dtype == "f64" ? 8
                                                      : 4;
  return elements * width;
}

} // namespace

LogicalResult mlir::palm::printMemoryReport(ModuleOp lowered,
                                            llvm::raw_ostream &os,
                                            std::string &error) {
  auto global = lowered.lookupSymbol<LLVM::GlobalOp>("palm_program_info");
  auto text = global ? dyn_cast_or_null<StringAttr>(global.getValueOrNull())
                     : StringAttr();
  if (!text) {
    error = "the lowered module has no program description";
    return failure();
  }
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse(text.getValue().drop_back()); // the NUL
  const llvm::json::Object *root = json ? json->getAsObject() : nullptr;
  const llvm::json::Object *memory =
      root ? root->getObject("memory") : nullptr;
  if (!root || !memory) {
    if (!json)
      llvm::consumeError(json.takeError());
    error = "the program description has no memory plan";
    return failure();
  }

  int64_t params = 0, state = 0, inputs = 0, results = 0, devices = 1;
  std::string meshText;
  if (const llvm::json::Object *mesh = root->getObject("mesh"))
    if (const llvm::json::Array *axes = mesh->getArray("axes"))
      for (const llvm::json::Value &axis : *axes)
        if (const llvm::json::Object *a = axis.getAsObject()) {
          int64_t size = a->getInteger("size").value_or(1);
          devices *= size;
          meshText += (meshText.empty() ? "" : ",") +
                      a->getString("name").value_or("?").str() + "=" +
                      std::to_string(size);
        }
  if (const llvm::json::Array *args = root->getArray("args"))
    for (const llvm::json::Value &v : *args)
      if (const llvm::json::Object *t = v.getAsObject()) {
        llvm::StringRef kind = t->getString("kind").value_or("");
        (kind == "param"   ? params
         : kind == "state" ? state
                           : inputs) += localBytes(*t);
      }
  if (const llvm::json::Array *list = root->getArray("results"))
    for (const llvm::json::Value &v : *list)
      if (const llvm::json::Object *t = v.getAsObject())
        results += localBytes(*t);
  auto number = [&](llvm::StringRef key) {
    return memory->getInteger(key).value_or(0);
  };
  int64_t arena = number("arena"), peak = number("peak_live"),
          grads = number("gradients"), gradsAtPeak = number("gradients_at_peak");
  int64_t staging = number("collective_staging");
  int64_t total = params + state + inputs + results + arena + staging;

  os << "memory per device (mesh " << meshText << ", " << devices
     << (devices == 1 ? " device" : " devices") << "), bytes and MiB:\n";
  auto row = [&](llvm::StringRef what, int64_t bytes, llvm::StringRef note) {
    os << llvm::format("  %-22s %14lld %11.2f", what.str().c_str(),
                       static_cast<long long>(bytes), bytes / 1048576.0)
       << (note.empty() ? "" : "  ") << note << "\n";
  };
  // The values' names are long; their bytes come first.
  auto value = [&](llvm::StringRef name, int64_t bytes) {
    os << llvm::format("  %14lld %11.2f  ", static_cast<long long>(bytes),
                       bytes / 1048576.0)
       << name << "\n";
  };
  row("parameters", params, "");
  row("optimizer state", state, "");
  row("inputs", inputs, "tokens, targets, the step");
  row("results", results,
      "the next step's parameters and state (in place of the arguments "
      "after the step), the loss");
  row("arena", arena, "intermediate values, placed by liveness");
  row("  peak live", peak, "the most live at once (the arena's lower bound)");
  row("    gradients", gradsAtPeak,
      ("parameter gradients, their pieces and partial sums live then (the "
       "optimizer reads " +
       std::to_string(grads) + " bytes of gradients)")
          .c_str());
  row("    activations", peak - gradsAtPeak,
      "every other intermediate live then");
  if (staging > 0)
    row("collective staging", staging,
        "the CPU runtime's packing buffers of collectives");
  row("total", total, "everything above but the peak's breakdown");
  if (const llvm::json::Array *largest = memory->getArray("largest_at_peak");
      largest && !largest->empty()) {
    os << "largest values live at the arena's peak (bytes, MiB, the op):\n";
    for (const llvm::json::Value &v : *largest)
      if (const llvm::json::Object *o = v.getAsObject())
        value(o->getString("name").value_or("?"),
              o->getInteger("bytes").value_or(0));
  }
  return success();
}
