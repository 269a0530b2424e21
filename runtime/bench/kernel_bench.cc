//===- kernel_bench.cc - timings of the runtime kernels -------------------===//
//
// Times each kernel at the `small` preset's sizes (batch 4, seq 256, d_model
// 512, 8 heads of 64 sharing one key/value head, vocab 8192) on one thread
// and prints a table. Not a test: numbers depend on the machine.
//
//===----------------------------------------------------------------------===//

#include "palmrt/palmrt.h"

#include "host/blas_library.h"

#include <chrono>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

namespace {

std::vector<float> randomVector(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(gen);
  return v;
}

void bench(const char *name, double flops, double bytes,
           const std::function<void()> &fn) {
  fn(); // warm up
  int reps = 0;
  auto start = std::chrono::steady_clock::now();
  double seconds = 0;
  while (seconds < 0.5) {
    fn();
    ++reps;
    seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
  }
  double t = seconds / reps;
  std::printf("%-22s %10.3f ms %9.2f GFLOP/s %9.2f GB/s\n", name, t * 1e3,
              flops / t * 1e-9, bytes / t * 1e-9);
}

} // namespace

int main() {
  palmrt::blas().setNumThreads(1);
  const int64_t b = 4, s = 256, d = 512, h = 8, hd = 64, vocab = 8192;
  const int64_t tokens = b * s;
  std::printf("%-22s %13s %17s %14s\n", "kernel", "time", "", "");
  {
    auto x = randomVector(tokens * d, 1), scale = randomVector(d, 2);
    std::vector<float> y(tokens * d);
    bench("layer_norm", 7.0 * tokens * d, 8.0 * tokens * d, [&] {
      palmrt_layer_norm_f32(x.data(), scale.data(), y.data(), tokens, d, 1e-6f);
    });
    auto dy = randomVector(tokens * d, 12);
    std::vector<float> dx(tokens * d), dscale(d);
    bench("layer_norm grad", 12.0 * tokens * d, 16.0 * tokens * d, [&] {
      palmrt_layer_norm_grad_f32(x.data(), scale.data(), dy.data(), dx.data(),
                                 dscale.data(), tokens, d, 1e-6f);
    });
  }
  {
    auto x = randomVector(tokens * h * hd, 3);
    std::vector<float> y(x.size());
    bench("rope (q)", 6.0 * x.size(), 8.0 * x.size(), [&] {
      palmrt_rope_f32(x.data(), y.data(), b, s, h, hd, 10000.0f, 0, 0);
    });
  }
  {
    auto q = randomVector(tokens * h * hd, 4), k = randomVector(tokens * hd, 5),
         v = randomVector(tokens * hd, 6);
    std::vector<float> out(tokens * h * hd);
    // Causal: half the score matrix, two products of it.
    double flops = 2.0 * 2 * b * h * s * s * hd / 2;
    bench("attention causal", flops, 0, [&] {
      palmrt_attention_f32(q.data(), k.data(), v.data(), out.data(), b, s, s, h,
                           1, hd, hd, 1, 0.125f, 0, h, h, 0, nullptr);
    });
    std::vector<float> lse(tokens * h), dq(q.size()), dk(k.size()),
        dv(v.size());
    auto dout = randomVector(out.size(), 13);
    palmrt_attention_f32(q.data(), k.data(), v.data(), out.data(), b, s, s, h,
                         1, hd, hd, 1, 0.125f, 0, h, h, 0, lse.data());
    // The backward recomputes the scores: five products where the forward
    // has two.
    bench("attention grad causal", flops * 5 / 2, 0, [&] {
      palmrt_attention_grad_f32(q.data(), k.data(), v.data(), out.data(),
                                lse.data(), dout.data(), dq.data(), dk.data(),
                                dv.data(), b, s, s, h, 1, hd, hd, 1, 0.125f, 0,
                                h, h, 0);
    });
  }
  {
    auto table = randomVector(vocab * d, 7);
    std::vector<int32_t> ids(tokens);
    for (int64_t i = 0; i < tokens; ++i)
      ids[i] = static_cast<int32_t>((i * 7919) % vocab);
    std::vector<float> out(tokens * d);
    bench("embedding", 0, 8.0 * tokens * d, [&] {
      palmrt_embedding_f32(table.data(), ids.data(), out.data(), tokens, vocab,
                           d, 0);
    });
  }
  {
    auto logits = randomVector(tokens * vocab, 8);
    std::vector<int32_t> targets(tokens);
    for (int64_t i = 0; i < tokens; ++i)
      targets[i] = static_cast<int32_t>((i * 31) % vocab);
    std::vector<float> max(tokens), sums(2 * tokens);
    float loss;
    int64_t shape[2] = {b, s};
    bench("cross_entropy", 4.0 * tokens * vocab, 8.0 * tokens * vocab, [&] {
      palmrt_cross_entropy_f32(logits.data(), targets.data(), &loss, 2, shape,
                               shape, vocab, 1e-4f, tokens);
    });
    bench("softmax_max", 1.0 * tokens * vocab, 4.0 * tokens * vocab, [&] {
      palmrt_softmax_max_f32(logits.data(), max.data(), tokens, vocab, vocab);
    });
    bench("softmax_sums", 3.0 * tokens * vocab, 4.0 * tokens * vocab, [&] {
      palmrt_softmax_sums_f32(logits.data(), max.data(), targets.data(),
                              sums.data(), tokens, vocab, vocab, 0);
    });
    std::vector<float> dlogits(tokens * vocab);
    float dloss = 1.0f;
    bench("cross_entropy grad", 6.0 * tokens * vocab, 12.0 * tokens * vocab,
          [&] {
            palmrt_cross_entropy_grad_f32(logits.data(), targets.data(), &dloss,
                                          nullptr, nullptr, dlogits.data(), 2,
                                          shape, shape, vocab, vocab, 0, 1e-4f,
                                          tokens);
          });
  }
  {
    auto a = randomVector(tokens * d, 9), w = randomVector(d * 4 * d, 10);
    std::vector<float> c(tokens * 4 * d);
    bench("gemm 1024x2048x512", 2.0 * tokens * 4 * d * d, 0, [&] {
      palmrt_gemm(nullptr, PALMRT_F32, 1, tokens, 4 * d, d, a.data(), 0,
                  w.data(), 0, c.data());
    });
  }
  {
    std::vector<float> x = randomVector(tokens * d, 11), y(x.size());
    int64_t shape[3] = {b, s, d}, perm[3] = {1, 0, 2};
    bench("transpose 0<->1", 0, 8.0 * x.size(),
          [&] { palmrt_transpose(x.data(), y.data(), 3, shape, perm, 4); });
    int64_t shape2[2] = {tokens, d}, perm2[2] = {1, 0};
    bench("transpose 2-D", 0, 8.0 * x.size(),
          [&] { palmrt_transpose(x.data(), y.data(), 2, shape2, perm2, 4); });
  }
  return 0;
}
