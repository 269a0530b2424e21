/*===- smoke_program.c - a hand-written "compiled program" ---------------===
 *
 * What palm-compile emits, written by hand, so the runtime can be run end to
 * end without the compiler: a one-layer language model head with the
 * vocabulary sharded over `model` (masked lookup, sharded softmax) and the
 * batch over `data`, both unevenly (vocab 11, batch 3). The mesh comes from
 * DATA and MODEL at compile time.
 *
 *   x = embed(tokens); h = layer_norm(x) * ln; logits = h E^T / sqrt(D)
 *   loss = mean cross-entropy(logits, targets) with z-loss 1e-4
 *
 * Failure injection for the tests: PALM_SMOKE_CRASH_RANK=<r> makes rank r
 * abort in its first step, PALM_SMOKE_HANG_RANK=<r> makes it sleep forever
 * there (the others then wait in a collective), and PALM_SMOKE_PID_DIR=<dir>
 * makes every rank write its pid to <dir>/<rank>.pid.
 *
 *===----------------------------------------------------------------------===*/

#include "palmrt/palmrt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef DATA
#define DATA 1
#endif
#ifndef MODEL
#define MODEL 1
#endif

#define STR2(x) #x
#define STR(x) STR2(x)

/* Local sizes as text: ceil(3 / DATA) and ceil(11 / MODEL). */
#if DATA == 1
#define BL_TEXT "3"
#elif DATA == 2
#define BL_TEXT "2"
#elif DATA >= 3
#define BL_TEXT "1"
#endif
#if MODEL == 1
#define VL_TEXT "11"
#elif MODEL == 2
#define VL_TEXT "6"
#elif MODEL == 3 || MODEL == 4
#define VL_TEXT "3"
#else
#error "MODEL must be 1 to 4"
#endif

enum { B = 3, S = 5, V = 11, D = 8 };
enum { BL = (B + DATA - 1) / DATA, VL = (V + MODEL - 1) / MODEL, N = BL * S };

const char palm_program_info[] =
    "{\"format\": \"palm-program\", \"version\": 2, \"target\": \"cpu\",\n"
    " \"mesh\": {\"axes\": [{\"name\": \"data\", \"size\": " STR(DATA) "},\n"
    "                     {\"name\": \"model\", \"size\": " STR(MODEL) "}]},\n"
    " \"groups\": [[\"model\"], [\"data\"]],\n"
    " \"args\": [\n"
    "  {\"index\": 0, \"kind\": \"input\", \"name\": \"tokens\", \"dtype\": "
    "\"i32\", \"global_shape\": [3, 5], \"local_shape\": [" BL_TEXT ", 5],"
    " \"sharding\": [[\"data\"], []]},\n"
    "  {\"index\": 1, \"kind\": \"input\", \"name\": \"targets\", \"dtype\": "
    "\"i32\", \"global_shape\": [3, 5], \"local_shape\": [" BL_TEXT ", 5],"
    " \"sharding\": [[\"data\"], []]},\n"
    "  {\"index\": 2, \"kind\": \"param\", \"name\": \"embedding\", \"dtype\": "
    "\"f32\", \"global_shape\": [11, 8], \"local_shape\": [" VL_TEXT ", 8],"
    " \"sharding\": [[\"model\"], []],"
    " \"init\": {\"kind\": \"normal\", \"stddev\": 1}},\n"
    "  {\"index\": 3, \"kind\": \"param\", \"name\": \"final_ln\", \"dtype\": "
    "\"f32\", \"global_shape\": [8], \"local_shape\": [8], \"sharding\": [[]],"
    " \"init\": {\"kind\": \"ones\", \"stddev\": 0}}],\n"
    " \"results\": [\n"
    "  {\"index\": 0, \"name\": \"loss\", \"dtype\": \"f32\", \"global_shape\":"
    " [], \"local_shape\": [], \"sharding\": []},\n"
    "  {\"index\": 1, \"name\": \"logits\", \"dtype\": \"f32\", \"global_shape\":"
    " [3, 5, 11], \"local_shape\": [" BL_TEXT ", 5, " VL_TEXT "],"
    " \"sharding\": [[\"data\"], [], [\"model\"]]}]}\n";

/* x [N, D], h [N, D], max [N], sums [2, N]. */
const int64_t palm_arena_bytes = (2 * N * D + 3 * N) * sizeof(float);

static int64_t clampI(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

void palm_forward(void **buffers, void *arena, palmrt_context *ctx) {
  const int32_t *tokens = buffers[0];
  const int32_t *targets = buffers[1];
  const float *embedding = buffers[2];
  const float *ln = buffers[3];
  float *loss = buffers[4];
  float *logits = buffers[5];
  float *x = arena;
  float *h = x + N * D;
  float *max = h + N * D;
  float *sums = max + N;

  int64_t rank =
      palmrt_group_index(ctx, 1) * MODEL + palmrt_group_index(ctx, 0);
  const char *pidDir = getenv("PALM_SMOKE_PID_DIR");
  if (pidDir) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%d.pid", pidDir, (int)rank);
    FILE *f = fopen(path, "w");
    if (f) {
      fprintf(f, "%d\n", (int)getpid());
      fclose(f);
    }
  }
  const char *crash = getenv("PALM_SMOKE_CRASH_RANK");
  if (crash && atoi(crash) == rank)
    abort();
  const char *hang = getenv("PALM_SMOKE_HANG_RANK");
  if (hang && atoi(hang) == rank)
    for (;;)
      sleep(1);

  int64_t rowOffset = palmrt_group_index(ctx, 0) * VL;
  int64_t valid = clampI(V - rowOffset, 0, VL);
  palmrt_embedding_f32(embedding, tokens, x, N, VL, D, rowOffset);
  palmrt_all_reduce(ctx, x, x, N * D, PALMRT_F32, PALMRT_SUM, 0);
  palmrt_layer_norm_f32(x, ln, h, N, D, 1e-6f);
  palmrt_gemm(ctx, PALMRT_F32, 1, N, VL, D, h, 0, embedding, 1, logits);
  float inv = 1.0f / sqrtf((float)D);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t c = 0; c < VL; ++c)
      logits[i * VL + c] *= inv;
  int64_t shape[3] = {BL, S, VL};
  palmrt_mask_padding(logits, logits, 3, shape, 2, valid, sizeof(float));
  int64_t validRows = clampI(B - palmrt_group_index(ctx, 1) * BL, 0, BL);
  palmrt_mask_padding(logits, logits, 3, shape, 0, validRows, sizeof(float));

  palmrt_softmax_max_f32(logits, max, N, VL, valid);
  palmrt_all_reduce(ctx, max, max, N, PALMRT_F32, PALMRT_MAX, 0);
  palmrt_softmax_sums_f32(logits, max, targets, sums, N, VL, valid, rowOffset);
  palmrt_all_reduce(ctx, sums, sums, 2 * N, PALMRT_F32, PALMRT_SUM, 0);
  int64_t tokenShape[2] = {BL, S}, validExtent[2] = {validRows, S};
  palmrt_cross_entropy_loss_f32(max, sums, loss, 2, tokenShape, validExtent,
                                1e-4f, B * S);
  palmrt_all_reduce(ctx, loss, loss, 1, PALMRT_F32, PALMRT_SUM, 1);
}
