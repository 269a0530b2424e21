//===- BufferPlan.cpp - arena offsets from liveness -----------------------===//
//
// Two placements of the same buffers, the smaller arena kept:
//
// - first fit in definition order: each buffer at the lowest offset where
//   no buffer live at its definition overlaps it;
// - largest first: buffers in decreasing size, each in the smallest gap
//   (between the buffers already placed whose lifetimes overlap its own)
//   that holds it, else above them. Placing the large buffers first keeps
//   small short-lived ones from splitting the space they need, which is
//   where first fit loses (5% to 45% above the peak of live bytes on
//   palm-gen's training steps).
//
// A buffer read by the op that defines another is still live there, so an
// op's inputs and outputs never share memory in either placement.
//
//===----------------------------------------------------------------------===//

#include "BufferPlan.h"

#include "llvm/ADT/STLExtras.h"

#include <limits>
#include <numeric>
#include <tuple>
#include <utility>

using namespace mlir::palm;

namespace {

struct Placement {
  llvm::SmallVector<int64_t> offsets;
  int64_t arenaBytes = 0;
};

Placement firstFit(llvm::ArrayRef<BufferRequest> requests,
                   llvm::ArrayRef<int64_t> sizes) {
  llvm::SmallVector<int64_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  llvm::sort(order, [&](int64_t a, int64_t b) {
    return std::make_pair(requests[a].def, a) <
           std::make_pair(requests[b].def, b);
  });
  Placement p;
  p.offsets.assign(requests.size(), 0);
  llvm::SmallVector<int64_t> live; // request indices, sorted by offset
  for (int64_t r : order) {
    const BufferRequest &req = requests[r];
    llvm::erase_if(live,
                   [&](int64_t l) { return requests[l].lastUse < req.def; });
    int64_t offset = 0;
    for (int64_t l : live) {
      if (p.offsets[l] >= offset + sizes[r])
        break;
      offset = std::max(offset, p.offsets[l] + sizes[l]);
    }
    p.offsets[r] = offset;
    live.insert(llvm::upper_bound(live, offset,
                                  [&](int64_t off, int64_t l) {
                                    return off < p.offsets[l];
                                  }),
                r);
    p.arenaBytes = std::max(p.arenaBytes, offset + sizes[r]);
  }
  return p;
}

Placement largestFirst(llvm::ArrayRef<BufferRequest> requests,
                       llvm::ArrayRef<int64_t> sizes) {
  llvm::SmallVector<int64_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  llvm::sort(order, [&](int64_t a, int64_t b) {
    return std::make_tuple(-sizes[a], requests[a].def, a) <
           std::make_tuple(-sizes[b], requests[b].def, b);
  });
  Placement p;
  p.offsets.assign(requests.size(), 0);
  // The placed buffers in increasing offset, their lifetimes side by side
  // for a fast scan; the conflicts come out in offset order.
  llvm::SmallVector<int64_t> placed, placedOffset, placedDef, placedLastUse;
  for (int64_t r : order) {
    int64_t def = requests[r].def, lastUse = requests[r].lastUse;
    // The smallest gap between conflicts that holds the buffer; above them
    // all otherwise.
    int64_t best = -1, bestGap = std::numeric_limits<int64_t>::max();
    int64_t end = 0; // the highest end among the conflicts so far
    for (size_t i = 0, e = placed.size(); i < e; ++i) {
      if (placedDef[i] > lastUse || def > placedLastUse[i])
        continue;
      int64_t gap = placedOffset[i] - end;
      if (gap >= sizes[r] && gap < bestGap) {
        best = end;
        bestGap = gap;
      }
      end = std::max(end, placedOffset[i] + sizes[placed[i]]);
    }
    int64_t offset = best >= 0 ? best : end;
    p.offsets[r] = offset;
    p.arenaBytes = std::max(p.arenaBytes, offset + sizes[r]);
    size_t at = llvm::upper_bound(placedOffset, offset) - placedOffset.begin();
    placed.insert(placed.begin() + at, r);
    placedOffset.insert(placedOffset.begin() + at, offset);
    placedDef.insert(placedDef.begin() + at, def);
    placedLastUse.insert(placedLastUse.begin() + at, lastUse);
  }
  return p;
}

} // namespace

llvm::SmallVector<int64_t>
mlir::palm::planArena(llvm::ArrayRef<BufferRequest> requests,
                      int64_t alignment, int64_t &arenaBytes) {
  llvm::SmallVector<int64_t> sizes;
  for (const BufferRequest &req : requests)
    sizes.push_back((std::max<int64_t>(req.bytes, 1) + alignment - 1) /
                    alignment * alignment);
  Placement first = firstFit(requests, sizes);
  Placement largest = largestFirst(requests, sizes);
  Placement &kept =
      largest.arenaBytes < first.arenaBytes ? largest : first;
  arenaBytes = kept.arenaBytes;
  return std::move(kept.offsets);
}
