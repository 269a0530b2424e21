//===- CollectiveReport.cpp - count and size the collectives --------------===//
//
// Bytes are per device, with the ring algorithms NCCL and MPI use for large
// messages (docs/collectives.md): a device sends (n-1)/n of the gathered
// tensor in an all-gather, (n-1)/n of its input in a reduce-scatter or an
// all-to-all, twice that in an all-reduce, its input in a permute, and
// nothing in an all-slice.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "palm/Dialect/Palm/IR/ShardingUtils.h"
#include "palm/Dialect/Palm/Transforms/Passes.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <optional>
#include <string>

namespace mlir::palm {
#define GEN_PASS_DEF_PALMCOLLECTIVEREPORT
#include "palm/Dialect/Palm/Transforms/Passes.h.inc"
} // namespace mlir::palm

using namespace mlir;
using namespace mlir::palm;

namespace {

struct Tally {
  int64_t count = 0;
  int64_t bytes = 0;
};

/// Kind, axes (comma separated) -> tally.
using Table = std::map<std::pair<std::string, std::string>, Tally>;

/// Prints the collectives of each function by kind and axes, per layer and
/// in total.
struct CollectiveReportPass
    : public palm::impl::PalmCollectiveReportBase<CollectiveReportPass> {
  using PalmCollectiveReportBase::PalmCollectiveReportBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (format != "text" && format != "json") {
      module.emitError() << "format must be 'text' or 'json', not '"
                         << format << "'";
      return signalPassFailure();
    }
    llvm::json::Array functions;
    for (auto fn : module.getOps<func::FuncOp>()) {
      Table total;
      std::map<int64_t, Table> layers;
      fn.walk([&](Operation *op) {
        std::optional<std::pair<StringRef, int64_t>> entry = measure(op);
        if (!entry)
          return;
        std::string axes;
        llvm::raw_string_ostream os(axes);
        llvm::interleave(
            op->getAttrOfType<ArrayAttr>("mesh_axes"), os,
            [&](Attribute a) { os << cast<StringAttr>(a).getValue(); }, ",");
        auto key = std::make_pair(entry->first.str(), axes);
        auto add = [&](Table &t) {
          t[key].count += 1;
          t[key].bytes += entry->second;
        };
        add(total);
        if (std::optional<int64_t> layer = layerOf(op->getLoc()))
          add(layers[*layer]);
      });
      if (format == "json")
        functions.push_back(toJSON(fn.getSymName(), total, layers));
      else
        printText(fn.getSymName(), total, layers);
    }
    if (format == "json")
      llvm::outs() << llvm::formatv("{0:2}",
                                    llvm::json::Value(std::move(functions)))
                   << "\n";
    markAllAnalysesPreserved();
  }

  /// The kind and per-device bytes of a collective, or nothing.
  static std::optional<std::pair<StringRef, int64_t>> measure(Operation *op) {
    auto bytesOf = [](Value v) {
      auto t = cast<RankedTensorType>(v.getType());
      return tensorBytes(t.getShape(), t.getElementType());
    };
    // Multiply first so that a 4-byte scalar over 256 devices is 3, not 0.
    auto ring = [](int64_t bytes, int64_t n) { return bytes * (n - 1) / n; };
    if (auto c = dyn_cast<AllGatherOp>(op))
      return std::make_pair(StringRef("all_gather"),
                            ring(bytesOf(c.getResult()), c.getGroupSize()));
    if (auto c = dyn_cast<AllReduceOp>(op))
      return std::make_pair(StringRef("all_reduce"),
                            ring(2 * bytesOf(c.getInput()), c.getGroupSize()));
    if (auto c = dyn_cast<ReduceScatterOp>(op))
      return std::make_pair(StringRef("reduce_scatter"),
                            ring(bytesOf(c.getInput()), c.getGroupSize()));
    if (auto c = dyn_cast<AllToAllOp>(op))
      return std::make_pair(StringRef("all_to_all"),
                            ring(bytesOf(c.getInput()), c.getGroupSize()));
    if (auto c = dyn_cast<CollectivePermuteOp>(op))
      return std::make_pair(StringRef("collective_permute"),
                            bytesOf(c.getInput()));
    if (isa<AllSliceOp>(op))
      return std::make_pair(StringRef("all_slice"), int64_t(0));
    return std::nullopt;
  }

  static void printTable(llvm::raw_ostream &os, const Table &table,
                         StringRef indent) {
    for (const auto &[key, tally] : table)
      os << indent
         << llvm::formatv("{0,-19} {1,-14} {2,5} x {3,14} bytes/device\n",
                          key.first, "[" + key.second + "]", tally.count,
                          tally.bytes);
  }

  void printText(StringRef name, const Table &total,
                 const std::map<int64_t, Table> &layers) {
    llvm::raw_ostream &os = llvm::outs();
    os << "collectives of @" << name << " (bytes per device, ring)\n";
    if (total.empty()) {
      os << "  none\n";
      return;
    }
    os << "  total:\n";
    printTable(os, total, "    ");
    if (!perLayer)
      return;
    for (const auto &[layer, table] : layers) {
      os << "  layer " << layer << ":\n";
      printTable(os, table, "    ");
    }
  }

  static llvm::json::Array tableToJSON(const Table &table) {
    llvm::json::Array rows;
    for (const auto &[key, tally] : table)
      rows.push_back(llvm::json::Object{{"kind", key.first},
                                        {"axes", key.second},
                                        {"count", tally.count},
                                        {"bytes_per_device", tally.bytes}});
    return rows;
  }

  llvm::json::Object toJSON(StringRef name, const Table &total,
                            const std::map<int64_t, Table> &layers) {
    llvm::json::Array perLayerRows;
    for (const auto &[layer, table] : layers)
      perLayerRows.push_back(llvm::json::Object{
          {"layer", layer}, {"collectives", tableToJSON(table)}});
    return llvm::json::Object{{"function", name.str()},
                              {"total", tableToJSON(total)},
                              {"layers", std::move(perLayerRows)}};
  }
};

} // namespace
