/*===- smoke_train_program.c - a hand-written "training step" -----------===
 *
 * A training step as palm-compile will emit it, written by hand so the
 * runtime's training loop runs without the compiler: a parameter w [4] and
 * optimizer state m [4] that results replace between steps ("aliases"), the
 * step number the runtime writes, and the tokens of a batch sharded over
 * `data` (DATA devices, unevenly: batch 3). The update is chosen so that
 * every number a test sees follows from the step numbers:
 *
 *   loss = sum(w)            w' = w - 0.1 step       m' = m + step
 *   grad_norm = |[step] * 4| = 2 step                lr = 1e-3 step
 *   seen_step = step
 *
 * The tokens are read by no one: the test sees them in --save-outputs.
 *
 *===----------------------------------------------------------------------===*/

#include "palmrt/palmrt.h"

#ifndef DATA
#define DATA 1
#endif

#define STR2(x) #x
#define STR(x) STR2(x)

#if DATA == 1
#define BL_TEXT "3"
#elif DATA == 2
#define BL_TEXT "2"
#else
#error "DATA must be 1 or 2"
#endif

enum { B = 3, S = 5, BL = (B + DATA - 1) / DATA };

#define SCALAR(i, name)                                                        \
  "  {\"index\": " #i ", \"name\": \"" name "\", \"dtype\": \"f32\","          \
  " \"global_shape\": [], \"local_shape\": [], \"sharding\": []}"
#define VECTOR4(i, name, rest)                                                 \
  "  {\"index\": " #i ", \"name\": \"" name "\", \"dtype\": \"f32\","          \
  " \"global_shape\": [4], \"local_shape\": [4], \"sharding\": [[]]" rest "}"
#define TOKENS(i, name)                                                        \
  "  {\"index\": " #i ", \"kind\": \"input\", \"name\": \"" name "\","         \
  " \"dtype\": \"i32\", \"global_shape\": [3, 5], \"local_shape\": [" BL_TEXT  \
  ", 5], \"sharding\": [[\"data\"], []]}"

/* The description reads as JSON; clang-format would split its pieces. */
/* clang-format off */
const char palm_program_info[] =
    "{\"format\": \"palm-program\", \"version\": 2, \"target\": \"cpu\",\n"
    " \"flops\": 1000000, \"vocab\": 50,\n"
    " \"mesh\": {\"axes\": [{\"name\": \"data\", \"size\": " STR(DATA) "}]},\n"
    " \"groups\": [],\n"
    " \"args\": [\n" TOKENS(0, "tokens") ",\n" TOKENS(1, "targets") ",\n"
    VECTOR4(2, "w", ", \"kind\": \"param\","
                    " \"init\": {\"kind\": \"ones\", \"stddev\": 0}") ",\n"
    "  {\"index\": 3, \"kind\": \"step\", \"name\": \"step\", \"dtype\":"
    " \"f32\", \"global_shape\": [], \"local_shape\": [], \"sharding\": []},\n"
    VECTOR4(4, "m", ", \"kind\": \"state\","
                    " \"init\": {\"kind\": \"zeros\", \"stddev\": 0}") "],\n"
    " \"results\": [\n" SCALAR(0, "loss") ",\n" SCALAR(1, "grad_norm") ",\n"
    SCALAR(2, "lr") ",\n" VECTOR4(3, "w_new", ", \"aliases\": 2") ",\n"
    VECTOR4(4, "m_new", ", \"aliases\": 4") ",\n" SCALAR(5, "seen_step") "]}\n";
/* clang-format on */

const int64_t palm_arena_bytes = 0;

void palm_forward(void **buffers, void *arena, palmrt_context *ctx) {
  (void)arena;
  (void)ctx;
  const float *w = buffers[2];
  float step = *(const float *)buffers[3];
  const float *m = buffers[4];
  float *loss = buffers[5], *gradNorm = buffers[6], *lr = buffers[7];
  float *wNew = buffers[8], *mNew = buffers[9], *seen = buffers[10];
  float sum = 0;
  for (int i = 0; i < 4; ++i) {
    sum += w[i];
    wNew[i] = w[i] - 0.1f * step;
    mNew[i] = m[i] + step;
  }
  *loss = sum;
  *gradNorm = 2 * step;
  *lr = 1e-3f * step;
  *seen = step;
}
