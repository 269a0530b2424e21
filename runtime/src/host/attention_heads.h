//===- attention_heads.h - the head mapping palmrt_attention checks -*- C++ -*-===//
//
// Shared by palmrt_attention (every backend) and the host kernel
// palmrt_attention_f32, which can also be called directly.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_HOST_ATTENTION_HEADS_H
#define PALMRT_SRC_HOST_ATTENTION_HEADS_H

#include <cstdint>

namespace palmrt {

/// The number of real (not padding) heads among a shard's `h` query heads
/// (global heads head_offset..), after checking the mapping palmrt.h
/// describes: heads_per_group is positive, and every real head's key/value
/// head, (head_offset + i) / heads_per_group, is one of the `g` given. A
/// violation is fatal, the message starting with `who`.
int64_t attentionRealHeads(const char *who, int64_t h, int64_t g,
                           int64_t head_offset, int64_t heads_per_group,
                           int64_t global_heads);

} // namespace palmrt

#endif // PALMRT_SRC_HOST_ATTENTION_HEADS_H
