// Runs the compiled silu of silu-sweep.mlir (palm_forward: argument and
// result buffers, no arena: one fused loop, no runtime call) on special
// values and a sweep of [-30, 30], and compares it with x / (1 + e^-x) in
// double. The CPU lowering computes exp2 from arithmetic; its error must
// stay that of libm's exp2f path, which is the rounding of t = -x log2(e)
// to f32: for |t| < 64 half an ulp of t and of log2(e) times x, about
// 2.2e-6 relative in 2^t at most (both paths measured 1.9e-6 on this
// sweep). The bound checked is 4e-6; a wrong polynomial term is off by
// orders of magnitude more.
#include <math.h>
#include <stdio.h>

void palm_forward(void **buffers, void *arena, void *ctx);

enum { N = 4096 };

static double reference(float x) { return x / (1.0 + exp(-(double)x)); }

int main(void) {
  static float x[N], y[N];
  const float special[] = {0.0f,    -0.0f,   1.0f,     -1.0f,   INFINITY,
                           NAN,     88.0f,   -88.0f,   100.0f,  -100.0f,
                           150.0f,  -150.0f, 1e30f,    -1e30f,  1e-30f,
                           -1e-30f, 0.5f,    -0.5f,    20.0f,   -20.0f};
  int specials = sizeof special / sizeof special[0];
  for (int i = 0; i < specials; ++i)
    x[i] = special[i];
  for (int i = specials; i < N; ++i)
    x[i] = (float)((i - N / 2) * (30.0 / (N / 2))) + (float)i * 1e-5f;
  void *buffers[2] = {x, y};
  palm_forward(buffers, NULL, NULL);

  int failures = 0;
  double worst = 0;
  for (int i = 0; i < N; ++i) {
    if (isnan(x[i])) {
      if (!isnan(y[i]))
        printf("FAIL silu(nan) = %g, not nan\n", y[i]), ++failures;
      continue;
    }
    if (isinf(x[i])) {
      if (y[i] != x[i])
        printf("FAIL silu(inf) = %g\n", y[i]), ++failures;
      continue;
    }
    double want = reference(x[i]);
    double error = fabs(y[i] - want);
    // Relative where silu is a normal float; absolute (below the smallest
    // normal) where e^-x overflows or silu underflows.
    if (fabs(want) >= 1.2e-38) {
      double rel = error / fabs(want);
      worst = rel > worst ? rel : worst;
      if (rel > 4e-6)
        printf("FAIL silu(%.9g) = %.9g, want %.9g\n", x[i], y[i], want),
            ++failures;
    } else if (error > 1.2e-38) {
      printf("FAIL silu(%.9g) = %.9g, want %.9g\n", x[i], y[i], want),
          ++failures;
    }
  }
  printf("largest relative error %.2g\n", worst);
  printf(failures ? "FAIL\n" : "PASS\n");
  return failures != 0;
}
