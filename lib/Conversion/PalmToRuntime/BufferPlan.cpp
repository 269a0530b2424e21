//===- BufferPlan.cpp - arena offsets from liveness -----------------------===//
//
// Buffers are placed in definition order at the lowest offset where no
// live buffer overlaps. A buffer read by the op that defines another is
// still live there, so an op's inputs and outputs never share memory.
//
//===----------------------------------------------------------------------===//

#include "BufferPlan.h"

#include "llvm/ADT/STLExtras.h"

#include <numeric>
#include <utility>

using namespace mlir::palm;

llvm::SmallVector<int64_t>
mlir::palm::planArena(llvm::ArrayRef<BufferRequest> requests,
                      int64_t alignment, int64_t &arenaBytes) {
  auto alignUp = [&](int64_t n) {
    return (n + alignment - 1) / alignment * alignment;
  };
  llvm::SmallVector<int64_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  llvm::sort(order, [&](int64_t a, int64_t b) {
    return std::make_pair(requests[a].def, a) <
           std::make_pair(requests[b].def, b);
  });
  llvm::SmallVector<int64_t> offsets(requests.size(), 0);
  llvm::SmallVector<int64_t> live; // request indices, sorted by offset
  arenaBytes = 0;
  for (int64_t r : order) {
    const BufferRequest &req = requests[r];
    llvm::erase_if(live, [&](int64_t l) {
      return requests[l].lastUse < req.def;
    });
    int64_t size = alignUp(std::max<int64_t>(req.bytes, 1));
    int64_t offset = 0;
    for (int64_t l : live) {
      if (offsets[l] >= offset + size)
        break;
      offset = std::max(
          offset, offsets[l] + alignUp(std::max<int64_t>(requests[l].bytes, 1)));
    }
    offsets[r] = offset;
    live.insert(llvm::upper_bound(live, offset,
                                  [&](int64_t off, int64_t l) {
                                    return off < offsets[l];
                                  }),
                r);
    arenaBytes = std::max(arenaBytes, offset + size);
  }
  return offsets;
}
