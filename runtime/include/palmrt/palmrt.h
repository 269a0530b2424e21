/*===- palmrt/palmrt.h - the interface between compiled code and palmrt ---===
 *
 * A program compiled by palm-compile is an object file that defines three
 * symbols and calls the functions below. The runtime's main() (libpalmrt,
 * palmrt_main.cc) reads the program description, sets up the mesh and its
 * communicators, creates the buffers, and calls the entry once per step.
 *
 * Symbols the compiled object defines:
 *
 *   const char palm_program_info[];   description, docs/runtime-abi.md
 *   const int64_t palm_arena_bytes;   bytes of scratch the entry needs
 *   void palm_forward(void **buffers, void *arena, palmrt_context *ctx);
 *       buffers[i] is argument i of the program for i < num_args, then
 *       result j at buffers[num_args + j]; each holds this device's local
 *       shard, row-major, with padding zero-filled. `arena` is at least
 *       palm_arena_bytes, 64-byte aligned; intermediate values live in it.
 *
 * Conventions of the functions the compiled code calls:
 *   - every tensor is dense and row-major; shapes are int64_t arrays;
 *   - element types: PALMRT_F32, PALMRT_BF16, PALMRT_I32, PALMRT_I64;
 *   - `group` indexes the communicator groups of palm_program_info
 *     (one per set of mesh axes a collective names);
 *   - kernels take plain sizes and offsets: the compiled code computes
 *     shard offsets with palmrt_group_index;
 *   - failures inside the runtime are fatal: a message from the failing
 *     rank and a non-zero exit of every rank (no status is returned).
 *
 * Thread-safety: one context per process; calls come from one thread.
 *
 *===----------------------------------------------------------------------===*/

#ifndef PALMRT_PALMRT_H
#define PALMRT_PALMRT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct palmrt_context palmrt_context;

typedef enum palmrt_dtype {
  PALMRT_F32 = 0,
  PALMRT_BF16 = 1,
  PALMRT_I32 = 2,
  PALMRT_I64 = 3,
} palmrt_dtype;

typedef enum palmrt_reduction {
  PALMRT_SUM = 0,
  PALMRT_MAX = 1,
} palmrt_reduction;

/* The compiled program's entry point. */
typedef void (*palmrt_entry_fn)(void **buffers, void *arena,
                                palmrt_context *ctx);

/*===-- Mesh -------------------------------------------------------------===*/

/* This device's index within its group (row-major over the group's axes, in
 * the order palm_program_info lists them), and the group's size. */
int64_t palmrt_group_index(palmrt_context *ctx, int32_t group);
int64_t palmrt_group_size(palmrt_context *ctx, int32_t group);

/*===-- Collectives (all devices of every group call them together) ------===*/

/* out[i] = reduce over the group of in[i], i < count. in == out allowed. */
void palmrt_all_reduce(palmrt_context *ctx, const void *in, void *out,
                       int64_t count, int32_t dtype, int32_t reduction,
                       int32_t group);

/* out = concatenation along `dim` of the group's inputs, in group order.
 * in_shape has `rank` entries; out's `dim` is in_shape[dim] * group size. */
void palmrt_all_gather(palmrt_context *ctx, const void *in, void *out,
                       int32_t rank, const int64_t *in_shape, int32_t dim,
                       int32_t dtype, int32_t group);

/* Reduce the group's inputs, then keep slice `group_index` of `dim`
 * (in_shape[dim] is divisible by the group size). */
void palmrt_reduce_scatter(palmrt_context *ctx, const void *in, void *out,
                           int32_t rank, const int64_t *in_shape, int32_t dim,
                           int32_t dtype, int32_t reduction, int32_t group);

/* Split `split_dim` into group-size pieces, send piece j to device j,
 * concatenate what arrives along `concat_dim` in group order. */
void palmrt_all_to_all(palmrt_context *ctx, const void *in, void *out,
                       int32_t rank, const int64_t *in_shape,
                       int32_t split_dim, int32_t concat_dim, int32_t dtype,
                       int32_t group);

/* Within each group, device pairs[2i] sends `count` elements to device
 * pairs[2i+1]; a device that receives nothing gets zeros. */
void palmrt_collective_permute(palmrt_context *ctx, const void *in, void *out,
                               int64_t count, int32_t dtype, int32_t group,
                               int64_t num_pairs, const int64_t *pairs);

/* Keep slice `group_index` of `dim`, of size ceil(in_shape[dim] / group
 * size); elements past the end of the input are zero. No communication. */
void palmrt_all_slice(palmrt_context *ctx, const void *in, void *out,
                      int32_t rank, const int64_t *in_shape, int32_t dim,
                      int32_t dtype, int32_t group);

/*===-- GEMM -------------------------------------------------------------===*/

/* For each of `batch` problems: C[m, n] = op(A) * op(B), f32 accumulation,
 * op(A) = A [m, k] or, with trans_a, A^T for A [k, m]; likewise B [k, n] or
 * [n, k]. Problems are packed back to back in A, B and C. */
void palmrt_gemm(palmrt_context *ctx, int32_t dtype, int64_t batch, int64_t m,
                 int64_t n, int64_t k, const void *a, int32_t trans_a,
                 const void *b, int32_t trans_b, void *c);

/* palmrt_gemm plus an addend: C = op(A) * op(B) + addend, the addend laid out
 * as C (and not overlapping it). The sum is the GEMM's epilogue: on cuda
 * cuBLASLt's beta = 1 with the addend as its C, on the host OpenBLAS's
 * beta = 1 on a copy of the addend. The compiler folds a residual add whose
 * other operand is a GEMM's result into the GEMM this way. */
void palmrt_gemm_add(palmrt_context *ctx, int32_t dtype, int64_t batch,
                     int64_t m, int64_t n, int64_t k, const void *a,
                     int32_t trans_a, const void *b, int32_t trans_b,
                     const void *addend, void *c);

/*===-- Transformer kernels (f32) ----------------------------------------===*/

/* y[r, :] = (x[r, :] - mean) / sqrt(var + eps) * scale, over `cols`. */
void palmrt_layer_norm_f32(const float *x, const float *scale, float *y,
                           int64_t rows, int64_t cols, float eps);

/* A layer norm over a split feature dimension, in two steps. First, for
 * each row of x [rows, cols], over its first `valid` columns (the rest are
 * padding): moments[0, r] = valid, moments[1, r] = the mean, moments[2, r]
 * = the sum of squared deviations from it (moments [3, rows]). */
void palmrt_row_moments_f32(const float *x, float *moments, int64_t rows,
                            int64_t cols, int64_t valid);

/* Then, with every shard's moments [shards, 3, rows] (gathered in shard
 * order): merge them in that order (parallel variance: n = na + nb, d =
 * mb - ma, m = ma + d nb / n, M2 = M2a + M2b + d^2 na nb / n) and write
 * y[r, :] = (x[r, :] - m) / sqrt(M2 / n + eps) * scale. */
void palmrt_layer_norm_merged_f32(const float *x, const float *scale,
                                  const float *moments, float *y, int64_t rows,
                                  int64_t cols, int64_t shards, float eps);

/* Rotary embedding of x [b, s, h, d], d even, rotate-half pairing (i with
 * i + d/2), angle p * base^(-2i/d) at position p = position_offset + (the
 * row's index in [0, s)): a shard of a longer sequence passes its offset.
 * With `inverse` the rotation is by the negated angle: the transpose of the
 * forward rotation, which maps dy to dx. */
void palmrt_rope_f32(const float *x, float *y, int64_t b, int64_t s,
                     int64_t h, int64_t d, float base,
                     int64_t position_offset, int32_t inverse);

/* Attention: q [b, s, h, dk], k [b, t, g, dk], v [b, t, g, dv] give
 * out [b, s, h, dv]. Local head i is global head head_offset + i; it uses
 * key/value head (head_offset + i) / heads_per_group, and is all zeros when
 * its global index is global_heads or more (padding). Scores are scaled by
 * `scale`, masked causally when `causal` (query p, at global position
 * query_offset + p, sees keys 0..query_offset + p: a shard of the queries
 * passes its offset), and the softmax is computed in f32. When `lse` is not
 * NULL it receives each query row's log-sum-exp of its scaled, masked
 * scores, lse [b, s, h] (-inf for padding heads), for the backward. */
void palmrt_attention_f32(const float *q, const float *k, const float *v,
                          float *out, int64_t b, int64_t s, int64_t t,
                          int64_t h, int64_t g, int64_t dk, int64_t dv,
                          int32_t causal, float scale, int64_t head_offset,
                          int64_t heads_per_group, int64_t global_heads,
                          int64_t query_offset, float *lse);

/* The backward of palmrt_attention_f32 (same shapes and head and position
 * mapping), flash style: the probabilities are recomputed from the forward's
 * lse [b, s, h], never stored. From dout [b, s, h, dv] and the forward's
 * out, writes dq [b, s, h, dk] and overwrites dk [b, t, g, dk] and
 * dv [b, t, g, dv] with the sums over this call's query rows and real
 * heads (a shard of the queries or of the heads sharing a key/value head
 * gives a partial sum). Padding heads get dq = 0 and contribute nothing. */
void palmrt_attention_grad_f32(
    const float *q, const float *k, const float *v, const float *out,
    const float *lse, const float *dout, float *dq, float *dk, float *dv,
    int64_t b, int64_t s, int64_t t, int64_t h, int64_t g, int64_t dk_size,
    int64_t dv_size, int32_t causal, float scale, int64_t head_offset,
    int64_t heads_per_group, int64_t global_heads, int64_t query_offset);

/* The backward of palmrt_layer_norm_f32: dx [rows, cols] and
 * dscale [cols] = the sum over rows of dy * (x - mean) / sqrt(var + eps)
 * (overwritten). */
void palmrt_layer_norm_grad_f32(const float *x, const float *scale,
                                const float *dy, float *dx, float *dscale,
                                int64_t rows, int64_t cols, float eps);

/* The backward of palmrt_embedding_f32: dtable [rows, d] is overwritten
 * with, for each held row r, the sum of dy[i, :] over the ids with
 * ids[i] - row_offset == r (ids of other rows add nothing here). The sum
 * runs in id order, so the result does not depend on threads. */
void palmrt_embedding_grad_f32(const int32_t *ids, const float *dy,
                               float *dtable, int64_t num_ids, int64_t rows,
                               int64_t d, int64_t row_offset);

/* The backward of the mean cross-entropy with z-loss (as
 * palmrt_cross_entropy_f32) scaled by dloss[0] (by 1 when dloss is NULL,
 * the seed of a backward pass): for each valid token,
 * dlogits[i, c] = (softmax_c * (1 + 2 z_loss logZ) - [c == target]) *
 * dloss[0] / token_count over its `vocab` local classes, of which the first
 * `valid` are real (the rest, padding, get 0) and class c is global class
 * offset + c; padded tokens get 0. With the vocabulary whole pass
 * max = sums = NULL and logZ is computed here; with it split, logZ =
 * max[i] + log(sums[0, i]) from the combined statistics of
 * palmrt_softmax_max_f32 / palmrt_softmax_sums_f32. */
void palmrt_cross_entropy_grad_f32(
    const float *logits, const int32_t *targets, const float *dloss,
    const float *max, const float *sums, float *dlogits, int32_t token_rank,
    const int64_t *token_shape, const int64_t *valid_extent, int64_t vocab,
    int64_t valid, int64_t offset, float z_loss, int64_t token_count);

/*===-- Optimizer kernels (f32) ------------------------------------------===*
 *
 * Scalars (the step, the learning rate, sums of squares) are 0-d tensors:
 * pointers to one float each. The equations are optax's (docs/training.md).
 *
 *===----------------------------------------------------------------------===*/

/* out[0] = the sum of x[i]^2 over n elements, accumulated in double. */
void palmrt_sum_squares_f32(const float *x, float *out, int64_t n);

/* out[0] = the learning rate of step k = step[0] (1-based). Schedule 0
 * (inverse square root): peak / sqrt(max(k, warmup_steps)). Schedule 1
 * (linear warmup, cosine decay): with t = k - 1, peak * t / warmup_steps
 * while t < warmup_steps, else final + (peak - final) * (1 + cos(pi * p))
 * / 2, p = min(1, (t - warmup_steps) / (total_steps - warmup_steps)). */
void palmrt_learning_rate_f32(const float *step, float *out, int32_t schedule,
                              float peak, int64_t warmup_steps,
                              int64_t total_steps, float final_lr);

/* The first half of an unfactored Adafactor step over n elements: the
 * gradient clipped by the global norm (n_g = sqrt(grad_sum_squares[0]):
 * g = grad when n_g < max_norm, else grad / n_g * max_norm), beta2 =
 * 1 - k^-decay_rate in f32 (k = step[0]), new_v = beta2 v + (1 - beta2)
 * (g^2 + epsilon), and update_sum_squares[0] = the sum of (g /
 * sqrt(new_v))^2, accumulated in double. */
void palmrt_adafactor_moments_f32(const float *grad, const float *v,
                                  const float *grad_sum_squares,
                                  const float *step, float *new_v,
                                  float *update_sum_squares, int64_t n,
                                  float decay_rate, float epsilon,
                                  float max_norm);

/* The second half: u = g / sqrt(new_v) / max(1, sqrt(update_sum_squares
 * / count) / clipping_threshold) * lr * max(scale_floor,
 * sqrt(param_sum_squares / count)); new_m = beta1 m + (1 - beta1) u;
 * new_param = param - (new_m + weight_decay lr^2 param). `count` is the
 * parameter's global element count; g is clipped as above. */
void palmrt_adafactor_apply_f32(
    const float *param, const float *grad, const float *new_v, const float *m,
    const float *grad_sum_squares, const float *update_sum_squares,
    const float *param_sum_squares, const float *lr, float *new_param,
    float *new_m, int64_t n, int64_t count, float beta1,
    float clipping_threshold, float scale_floor, float max_norm,
    float weight_decay);

/* One AdamW step over n elements with the gradient clipped as above and
 * k = step[0]: new_m = beta1 m + (1 - beta1) g, new_v = beta2 v + (1 -
 * beta2) g^2, new_param = param - lr (new_m / (1 - beta1^k) /
 * (sqrt(new_v / (1 - beta2^k)) + epsilon) + weight_decay param). */
void palmrt_adamw_apply_f32(const float *param, const float *grad,
                            const float *m, const float *v,
                            const float *grad_sum_squares, const float *lr,
                            const float *step, float *new_param, float *new_m,
                            float *new_v, int64_t n, float beta1, float beta2,
                            float epsilon, float max_norm, float weight_decay);

/* out[i, :] = table[ids[i] - row_offset, :] when that row is one of the
 * `rows` held here, zeros otherwise. */
void palmrt_embedding_f32(const float *table, const int32_t *ids, float *out,
                          int64_t num_ids, int64_t rows, int64_t d,
                          int64_t row_offset);

/* Per token (rows of logits [tokens, vocab]), the maximum over the first
 * `valid` classes (-inf when valid <= 0). */
void palmrt_softmax_max_f32(const float *logits, float *out, int64_t tokens,
                            int64_t vocab, int64_t valid);

/* out [2, tokens]: out[0, i] = sum over the first `valid` classes of
 * exp(logits[i, c] - max[i]); out[1, i] = logits[i, targets[i] - offset]
 * when 0 <= targets[i] - offset < valid, else 0. */
void palmrt_softmax_sums_f32(const float *logits, const float *max,
                             const int32_t *targets, float *out,
                             int64_t tokens, int64_t vocab, int64_t valid,
                             int64_t offset);

/* Token validity: tokens are a [token_rank] grid of local shape
 * `token_shape`; a token is valid when its index in every dimension d is
 * below valid_extent[d] (shards past the end of the data are padding). */

/* out[0] = sum over valid tokens of (logZ - logit[target] +
 * z_loss * logZ^2) / token_count, logZ = logsumexp over all `vocab`
 * classes. logits [tokens..., vocab], targets [tokens...]. */
void palmrt_cross_entropy_f32(const float *logits, const int32_t *targets,
                              float *out, int32_t token_rank,
                              const int64_t *token_shape,
                              const int64_t *valid_extent, int64_t vocab,
                              float z_loss, int64_t token_count);

/* The same from a sharded softmax's combined statistics: logZ = max +
 * log(sums[0, i]), the target logit is sums[1, i]. */
void palmrt_cross_entropy_loss_f32(const float *max, const float *sums,
                                   float *out, int32_t token_rank,
                                   const int64_t *token_shape,
                                   const int64_t *valid_extent, float z_loss,
                                   int64_t token_count);

/*===-- Loops of the compiled code (host) --------------------------------===*/

/* A piece of a compiled loop: iterations [begin, end), its operands' pointers
 * in `args`. */
typedef void (*palmrt_range_fn)(void *args, int64_t begin, int64_t end);

/* Runs body(args, begin, end) over the chunks [i * grain, min(n, (i + 1) *
 * grain)) of [0, n) on the host kernels' threads (as many as OpenBLAS's),
 * returning when all are done. The chunks depend on n and grain only, so a
 * body that writes only its own iterations' outputs gives the same result at
 * any number of threads. */
void palmrt_parallel_for(palmrt_range_fn body, void *args, int64_t n,
                         int64_t grain);

/*===-- Data movement (any element type, by size in bytes) ---------------===*/

/* out = in with elements at index >= valid along `dim` set to zero. */
void palmrt_mask_padding(const void *in, void *out, int32_t rank,
                         const int64_t *shape, int32_t dim, int64_t valid,
                         int64_t elem_bytes);

/* out[i...] = in[perm-permuted i...]: out.shape[j] = in_shape[perm[j]]. */
void palmrt_transpose(const void *in, void *out, int32_t rank,
                      const int64_t *in_shape, const int64_t *perm,
                      int64_t elem_bytes);

/* out = in[offsets : offsets + out_shape] (a dense block of in). */
void palmrt_extract_slice(const void *in, void *out, int32_t rank,
                          const int64_t *in_shape, const int64_t *out_shape,
                          const int64_t *offsets, int64_t elem_bytes);

/* out[offsets : offsets + in_shape] = in (the rest of out is untouched). */
void palmrt_insert_slice(const void *in, void *out, int32_t rank,
                         const int64_t *in_shape, const int64_t *out_shape,
                         const int64_t *offsets, int64_t elem_bytes);

/* out = in zero-padded at the high end of each dimension to out_shape. */
void palmrt_pad(const void *in, void *out, int32_t rank,
                const int64_t *in_shape, const int64_t *out_shape,
                int64_t elem_bytes);

/*===-- Programs compiled for --target cuda ---------------------------------===*
 *
 * Their description has a line `target cuda`; every buffer and the arena are
 * then device memory of the process's GPU, and the compiled code calls, in
 * addition to the GEMM and the collectives above (which the cuda backend
 * serves with cuBLASLt and NCCL), only these. All work is ordered on the
 * context's compute stream.
 *
 *===----------------------------------------------------------------------===*/

/* Copies `bytes` from `src` to `dst`, two buffers of the program. */
void palmrt_copy(palmrt_context *ctx, void *dst, const void *src,
                 int64_t bytes);

/* Launches kernel `kernel` of the GPU module `image` (PTX text,
 * NUL-terminated, loaded once per process and cached by address) on a
 * grid x block of threads with `shared_bytes` of dynamic shared memory;
 * `args` points to one pointer per kernel parameter, each to its value (the
 * cuLaunchKernel convention). */
void palmrt_launch(palmrt_context *ctx, const char *image, const char *kernel,
                   int64_t grid_x, int64_t grid_y, int64_t grid_z,
                   int64_t block_x, int64_t block_y, int64_t block_z,
                   int32_t shared_bytes, void **args);

/* palmrt_attention_f32 for any backend and element type (PALMRT_F32 or
 * PALMRT_BF16 tensors; f32 softmax and accumulation). On the cuda backend a
 * fused kernel: no [s, t] score matrix in global memory. `lse`, when not
 * NULL, is f32 [b, s, h] in the backend's memory whatever dtype is, and
 * receives palmrt_attention_f32's log-sum-exp (natural log; -inf for
 * padding heads and rows without keys). */
void palmrt_attention(palmrt_context *ctx, int32_t dtype, const void *q,
                      const void *k, const void *v, void *out, int64_t b,
                      int64_t s, int64_t t, int64_t h, int64_t g, int64_t dk,
                      int64_t dv, int32_t causal, float scale,
                      int64_t head_offset, int64_t heads_per_group,
                      int64_t global_heads, int64_t query_offset, float *lse);

/* palmrt_attention_grad_f32 for any backend and element type: q, k, v,
 * out, dout and the results dq, dk, dv are `dtype` (PALMRT_F32 or
 * PALMRT_BF16), lse is f32 [b, s, h] (what palmrt_attention wrote); all
 * math is f32. dq, dk and dv are overwritten. On the cuda backend fused
 * kernels that recompute the probabilities from lse (no [s, t] matrix in
 * global memory) and sum in a fixed order without atomics, so the results
 * are bitwise reproducible. */
void palmrt_attention_grad(palmrt_context *ctx, int32_t dtype, const void *q,
                           const void *k, const void *v, const void *out,
                           const float *lse, const void *dout, void *dq,
                           void *dk, void *dv, int64_t b, int64_t s, int64_t t,
                           int64_t h, int64_t g, int64_t dk_size,
                           int64_t dv_size, int32_t causal, float scale,
                           int64_t head_offset, int64_t heads_per_group,
                           int64_t global_heads, int64_t query_offset);

/*===-- The executable ---------------------------------------------------===*/

/* main() of a compiled program: flags, mesh, buffers, steps. Returns the
 * process exit code. */
int palmrt_main(int argc, char **argv, const char *program_info,
                int64_t arena_bytes, palmrt_entry_fn entry);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* PALMRT_PALMRT_H */
