/*===- cuda_smoke_program.c - a hand-written program for both targets ----===
 *
 * What palm-compile --target cuda emits, written by hand, so that
 * palmrt_main's cuda path (device buffers, parameters and tokens copied in,
 * results copied out, steps timed on the device) runs end to end without
 * the compiler. The same source built with TARGET_CUDA=0 is the CPU
 * program the cuda one must agree with. Mesh data=DATA, model=MODEL:
 *
 *   x = embedding[tokens]          (cuda: a PTX kernel; cpu: the host one)
 *   h = x w                        w [E, F] sharded over model
 *   a = causal attention(h, h, h)  one head of F / MODEL
 *   attended = a                   (palmrt_copy)
 *   gathered = all_gather(a, dim 2, model)
 *   loss = sum(a^2) / (B S F), all_reduce over data and model
 *
 *===----------------------------------------------------------------------===*/

#include "palmrt/palmrt.h"

#include <math.h>
#include <string.h>

#ifndef DATA
#define DATA 1
#endif
#ifndef MODEL
#define MODEL 1
#endif
#ifndef TARGET_CUDA
#define TARGET_CUDA 1
#endif

#define STR2(x) #x
#define STR(x) STR2(x)

/* Local sizes as text: 4 / DATA and 8 / MODEL. */
#if DATA == 1
#define BL_TEXT "4"
#elif DATA == 2
#define BL_TEXT "2"
#else
#error "DATA must be 1 or 2"
#endif
#if MODEL == 1
#define FL_TEXT "8"
#elif MODEL == 2
#define FL_TEXT "4"
#else
#error "MODEL must be 1 or 2"
#endif

enum { B = 4, S = 8, V = 50, E = 16, F = 8 };
enum { BL = B / DATA, FL = F / MODEL, N = BL * S };

#if TARGET_CUDA
#define TARGET_TEXT "cuda"
#else
#define TARGET_TEXT "cpu"
#endif
#define TENSOR(index, name, global, local, sharding)                           \
  "{\"index\": " #index ", \"name\": \"" name "\", \"dtype\": \"f32\", "       \
  "\"global_shape\": [" global "], \"local_shape\": [" local "], "             \
  "\"sharding\": [" sharding "]"
const char palm_program_info[] =
    "{\"format\": \"palm-program\", \"version\": 2, \"target\": \"" TARGET_TEXT
    "\", \"vocab\": 50,\n"
    " \"mesh\": {\"axes\": [{\"name\": \"data\", \"size\": " STR(DATA) "},\n"
    "                     {\"name\": \"model\", \"size\": " STR(MODEL) "}]},\n"
    " \"groups\": [[\"model\"], [\"data\", \"model\"]],\n"
    " \"args\": [\n"
    "  {\"index\": 0, \"kind\": \"input\", \"name\": \"tokens\", \"dtype\": "
    "\"i32\", \"global_shape\": [4, 8], \"local_shape\": [" BL_TEXT ", 8],"
    " \"sharding\": [[\"data\"], []]},\n"
    "  {\"index\": 1, \"kind\": \"input\", \"name\": \"targets\", \"dtype\": "
    "\"i32\", \"global_shape\": [4, 8], \"local_shape\": [" BL_TEXT ", 8],"
    " \"sharding\": [[\"data\"], []]},\n"
    "  {\"index\": 2, \"kind\": \"param\", \"name\": \"embedding\", \"dtype\": "
    "\"f32\", \"global_shape\": [50, 16], \"local_shape\": [50, 16],"
    " \"sharding\": [[], []], \"init\": {\"kind\": \"normal\", \"stddev\": 1}},\n"
    "  {\"index\": 3, \"kind\": \"param\", \"name\": \"w\", \"dtype\": "
    "\"f32\", \"global_shape\": [16, 8], \"local_shape\": [16, " FL_TEXT "],"
    " \"sharding\": [[], [\"model\"]],"
    " \"init\": {\"kind\": \"normal\", \"stddev\": 0.25}}],\n"
    " \"results\": [\n"
    "  " TENSOR(0, "loss", "", "", "") "},\n"
    "  " TENSOR(1, "attended", "4, 8, 8", BL_TEXT ", 8, " FL_TEXT,
                "[\"data\"], [], [\"model\"]") "},\n"
    "  " TENSOR(2, "gathered", "4, 8, 8", BL_TEXT ", 8, 8",
                "[\"data\"], [], []") "}]}\n";

/* Arena: x [N, E], h [N, FL], a [N, FL], partial loss; 256-byte aligned. */
#define ALIGN(bytes) (((bytes) + 255) / 256 * 256)
enum {
  X_AT = 0,
  H_AT = X_AT + ALIGN(N * E * 4),
  A_AT = H_AT + ALIGN(N * FL * 4),
  PARTIAL_AT = A_AT + ALIGN(N * FL * 4),
  ARENA = PARTIAL_AT + 256
};
const int64_t palm_arena_bytes = ARENA;

#if TARGET_CUDA
extern const char palmrt_test_kernels_ptx[];
#endif

void palm_forward(void **buffers, void *arena, palmrt_context *ctx) {
  const int32_t *tokens = (const int32_t *)buffers[0];
  const float *embedding = (const float *)buffers[2];
  const float *w = (const float *)buffers[3];
  float *loss = (float *)buffers[4];
  float *attended = (float *)buffers[5];
  float *gathered = (float *)buffers[6];
  char *base = (char *)arena;
  float *x = (float *)(base + X_AT), *h = (float *)(base + H_AT),
        *a = (float *)(base + A_AT), *partial = (float *)(base + PARTIAL_AT);
  float scale = 1.0f / (float)(B * S * F);

#if TARGET_CUDA
  {
    int64_t n = N, e = E, rows = V;
    void *args[] = {&embedding, &tokens, &x, &n, &e, &rows};
    palmrt_launch(ctx, palmrt_test_kernels_ptx, "palmrt_test_embed",
                  (N * E + 127) / 128, 1, 1, 128, 1, 1, 0, args);
  }
#else
  palmrt_embedding_f32(embedding, tokens, x, N, V, E, 0);
#endif
  palmrt_gemm(ctx, PALMRT_F32, 1, N, FL, E, x, 0, w, 0, h);
  palmrt_attention(ctx, PALMRT_F32, h, h, h, a, BL, S, S, 1, 1, FL, FL, 1,
                   1.0f / sqrtf((float)FL), 0, 1, 1, 0, NULL);
  palmrt_copy(ctx, attended, a, (int64_t)N * FL * 4);
  {
    int64_t shape[3] = {BL, S, FL};
    palmrt_all_gather(ctx, a, gathered, 3, shape, 2, PALMRT_F32, 0);
  }
#if TARGET_CUDA
  {
    int64_t n = N * FL;
    void *args[] = {&a, &partial, &n, &scale};
    palmrt_launch(ctx, palmrt_test_kernels_ptx, "palmrt_test_sum_squares", 1, 1,
                  1, 256, 1, 1, 0, args);
  }
#else
  {
    double sum = 0;
    for (int i = 0; i < N * FL; ++i)
      sum += (double)a[i] * a[i];
    partial[0] = (float)(scale * sum);
  }
#endif
  palmrt_all_reduce(ctx, partial, loss, 1, PALMRT_F32, PALMRT_SUM, 1);
}
