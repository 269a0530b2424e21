//===- ptx_interpreter_test.cc - the fake driver's PTX interpreter --------===//
//
// The interpreter is what every emulated cuda test trusts, so its semantics
// are checked here on hand-written PTX against values computed on the host:
// integer and float arithmetic, conversions, predicates, shuffles (with
// lanes that reach them at different times), barriers and shared memory,
// and the errors it must report rather than compute garbage.
//
//===----------------------------------------------------------------------===//

#include "fake_cuda/ptx_interpreter.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// "Device memory" for the tests: the buffers registered here.
std::vector<std::pair<uintptr_t, size_t>> gBuffers;

bool testRange(uintptr_t p, size_t bytes, uintptr_t *begin, uintptr_t *end) {
  for (auto [b, size] : gBuffers)
    if (p >= b && p + bytes <= b + size) {
      *begin = b;
      *end = b + size;
      return true;
    }
  return false;
}

template <typename T> struct Buffer {
  std::vector<T> data;
  explicit Buffer(size_t n, T fill = T()) : data(n, fill) {
    gBuffers.push_back(
        {reinterpret_cast<uintptr_t>(data.data()), n * sizeof(T)});
  }
  ~Buffer() { gBuffers.clear(); }
  T *ptr() { return data.data(); }
};

const char *kHeader = ".version 8.0\n.target sm_80\n.address_size 64\n";

std::shared_ptr<ptxi::Module> parse(const std::string &body) {
  std::string error;
  auto module = ptxi::parseModule(kHeader + body, &error);
  EXPECT_TRUE(module) << error;
  return module;
}

void run(const ptxi::Module &module, const char *name,
         std::vector<void *> params, unsigned blocks, unsigned threads,
         unsigned shared = 0) {
  const ptxi::Kernel *k = ptxi::findKernel(module, name);
  ASSERT_TRUE(k) << name;
  const unsigned grid[3] = {blocks, 1, 1}, block[3] = {threads, 1, 1};
  ptxi::launch(*k, params.data(), grid, block, shared, testRange);
}

// out[i] = f(i) for a few operations on the global thread index.
TEST(PtxInterpreter, ArithmeticAndConversions) {
  auto m = parse(R"(
.visible .entry ops(.param .u64 out, .param .f32 scale)
{
  .reg .pred %p<3>;
  .reg .b16 %rs<2>;
  .reg .b32 %r<20>;
  .reg .f32 %f<10>;
  .reg .b64 %rd<10>;
  ld.param.u64 %rd1, [out];
  ld.param.f32 %f1, [scale];
  cvta.to.global.u64 %rd1, %rd1;
  mov.u32 %r1, %tid.x;
  mov.u32 %r2, %ctaid.x;
  mov.u32 %r3, %ntid.x;
  mad.lo.s32 %r4, %r2, %r3, %r1;
  mul.wide.s32 %rd2, %r4, 32;
  add.s64 %rd3, %rd1, %rd2;
  sub.s32 %r5, 3, %r4;
  shr.s32 %r6, %r5, 1;
  st.global.u32 [%rd3], %r6;
  cvt.rn.f32.s32 %f2, %r5;
  mul.f32 %f3, %f2, %f1;
  st.global.f32 [%rd3+4], %f3;
  cvt.rni.s32.f32 %r7, %f3;
  st.global.u32 [%rd3+8], %r7;
  setp.lt.s32 %p1, %r5, 0;
  selp.b32 %r8, 100, 200, %p1;
  st.global.u32 [%rd3+12], %r8;
  ex2.approx.f32 %f4, %f2;
  st.global.f32 [%rd3+16], %f4;
  max.f32 %f5, %f2, 0f00000000;
  fma.rn.f32 %f6, %f5, %f1, 0f3F800000;
  st.global.f32 [%rd3+20], %f6;
  cvt.rn.bf16.f32 %rs1, %f3;
  st.global.b16 [%rd3+24], %rs1;
  rem.s32 %r9, %r5, 2;
  st.global.u32 [%rd3+28], %r9;
  ret;
}
)");
  ASSERT_TRUE(m);
  const int n = 12;
  Buffer<uint32_t> out(8 * n);
  uint32_t *p = out.ptr();
  float scale = 2.5f;
  run(*m, "ops", {&p, &scale}, 3, 4);
  for (int i = 0; i < n; ++i) {
    const uint32_t *o = &out.data[8 * i];
    int v = 3 - i;
    float f3 = static_cast<float>(v) * scale;
    auto f = [&](int w) {
      float x;
      std::memcpy(&x, &o[w], 4);
      return x;
    };
    EXPECT_EQ(static_cast<int32_t>(o[0]), v >> 1) << i;
    EXPECT_EQ(f(1), f3) << i;
    EXPECT_EQ(static_cast<int32_t>(o[2]),
              static_cast<int32_t>(std::nearbyint(f3)))
        << i;
    EXPECT_EQ(o[3], v < 0 ? 100u : 200u) << i;
    EXPECT_FLOAT_EQ(f(4), std::exp2(static_cast<float>(v))) << i;
    EXPECT_EQ(f(5), std::max(v, 0) * scale + 1.0f) << i;
    uint32_t bits;
    std::memcpy(&bits, &f3, 4);
    EXPECT_EQ(o[6] & 0xFFFF, (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << i;
    EXPECT_EQ(static_cast<int32_t>(o[7]), v % 2) << i;
  }
}

// Packed bf16 pairs: each half on its own, rounded once.
TEST(PtxInterpreter, PackedBf16) {
  auto m = parse(R"(
.visible .entry pairs(.param .u64 out)
{
  .reg .b32 %r<8>;
  .reg .b64 %rd<2>;
  ld.param.u64 %rd1, [out];
  mov.b32 %r1, 0x40403F80;       // {1.0, 3.0}
  mov.b32 %r2, 0xC0004000;       // {2.0, -2.0}
  mov.b32 %r3, 0x3F003F00;       // {0.5, 0.5}
  fma.rn.bf16x2 %r4, %r1, %r2, %r3;
  mul.rn.bf16x2 %r5, %r1, %r2;
  add.rn.bf16x2 %r6, %r1, %r3;
  cvt.rn.bf16x2.f32 %r7, 0f40A00000, 0f3E800000; // {0.25, 5.0}
  st.global.v4.u32 [%rd1], {%r4, %r5, %r6, %r7};
  ret;
}
)");
  ASSERT_TRUE(m);
  Buffer<uint32_t> out(4);
  uint32_t *p = out.ptr();
  run(*m, "pairs", {&p}, 1, 1);
  // bf16 bits: 2.5 = 0x4020, -5.5 = 0xC0B0, 2.0 = 0x4000, -6.0 = 0xC0C0,
  // 1.5 = 0x3FC0, 3.5 = 0x4060, 0.25 = 0x3E80, 5.0 = 0x40A0.
  EXPECT_EQ(out.data[0], 0xC0B04020u);
  EXPECT_EQ(out.data[1], 0xC0C04000u);
  EXPECT_EQ(out.data[2], 0x40603FC0u);
  EXPECT_EQ(out.data[3], 0x40A03E80u);
}

// A warp sum by butterfly shuffles after a loop that only some lanes run:
// the lanes that skip it reach the shuffle first and must wait for the
// others, as shfl.sync makes them on the GPU.
TEST(PtxInterpreter, ShuffleAfterDivergence) {
  auto m = parse(R"(
.visible .entry rowsum(.param .u64 x, .param .u64 out, .param .u32 n)
{
  .reg .pred %p<3>;
  .reg .b32 %r<12>;
  .reg .f32 %f<12>;
  .reg .b64 %rd<8>;
  ld.param.u64 %rd1, [x];
  ld.param.u64 %rd2, [out];
  ld.param.u32 %r1, [n];
  mov.u32 %r2, %laneid;
  mov.f32 %f1, 0f00000000;
  mov.u32 %r3, %r2;
  bra.uni $check;
$sum:
  shfl.sync.bfly.b32 %f2, %f1, 16, 31, -1;
  add.f32 %f1, %f1, %f2;
  shfl.sync.bfly.b32 %f2, %f1, 8, 31, -1;
  add.f32 %f1, %f1, %f2;
  shfl.sync.bfly.b32 %f2, %f1, 4, 31, -1;
  add.f32 %f1, %f1, %f2;
  shfl.sync.bfly.b32 %f2, %f1, 2, 31, -1;
  add.f32 %f1, %f1, %f2;
  shfl.sync.bfly.b32 %f2, %f1, 1, 31, -1;
  add.f32 %f1, %f1, %f2;
  mul.wide.u32 %rd3, %r2, 4;
  add.s64 %rd4, %rd2, %rd3;
  st.global.f32 [%rd4], %f1;
  ret;
$check:
  setp.ge.u32 %p1, %r3, %r1;
  @%p1 bra $sum;
  mul.wide.u32 %rd5, %r3, 4;
  add.s64 %rd6, %rd1, %rd5;
  ld.global.f32 %f3, [%rd6];
  add.f32 %f1, %f1, %f3;
  add.u32 %r3, %r3, 32;
  bra.uni $check;
}
)");
  ASSERT_TRUE(m);
  for (unsigned n : {5u, 32u, 70u}) {
    Buffer<float> x(n);
    float sum = 0;
    for (unsigned i = 0; i < n; ++i) {
      x.data[i] = static_cast<float>(i + 1);
      sum += x.data[i];
    }
    std::vector<float> host(32);
    gBuffers.push_back({reinterpret_cast<uintptr_t>(host.data()), 128});
    float *px = x.ptr(), *po = host.data();
    run(*m, "rowsum", {&px, &po, &n}, 1, 32);
    for (float v : host)
      EXPECT_EQ(v, sum) << "n = " << n;
  }
}

/// Reverses 256 floats through shared memory: every warp writes, then
/// (with `barrier`) bar.sync, then every warp reads what other warps wrote.
std::string reverseKernel(bool barrier) {
  return std::string(R"(
.extern .shared .align 16 .b8 smem[];
.visible .entry reverse(.param .u64 x)
{
  .reg .b32 %r<8>;
  .reg .f32 %f<2>;
  .reg .b64 %rd<6>;
  ld.param.u64 %rd1, [x];
  mov.u32 %r1, %tid.x;
  mul.wide.u32 %rd2, %r1, 4;
  add.s64 %rd3, %rd1, %rd2;
  ld.global.f32 %f1, [%rd3];
  mov.u32 %r2, smem;
  shl.b32 %r3, %r1, 2;
  add.s32 %r4, %r2, %r3;
  st.shared.f32 [%r4], %f1;
)") + (barrier ? "  bar.sync 0;\n" : "") + R"(
  sub.s32 %r5, 255, %r1;
  shl.b32 %r6, %r5, 2;
  add.s32 %r7, %r2, %r6;
  ld.shared.f32 %f1, [%r7];
  st.global.f32 [%rd3], %f1;
  ret;
}
)";
}

TEST(PtxInterpreter, BarrierAndSharedMemory) {
  auto m = parse(reverseKernel(/*barrier=*/true));
  ASSERT_TRUE(m);
  Buffer<float> x(256);
  for (int i = 0; i < 256; ++i)
    x.data[i] = static_cast<float>(i);
  float *p = x.ptr();
  run(*m, "reverse", {&p}, 1, 256, 256 * 4);
  for (int i = 0; i < 256; ++i)
    EXPECT_EQ(x.data[i], static_cast<float>(255 - i));
}

// D = A B on tensor cores: A [16][16] and B^T [8][16] (bf16) go through
// shared memory and ldmatrix into mma.sync.m16n8k16; D [16][8] (f32) is
// stored from the accumulator layout. Checked against the host product.
TEST(PtxInterpreter, LdmatrixAndMma) {
  auto m = parse(R"(
.shared .align 16 .b8 tiles[768];
.visible .entry mma16816(.param .u64 a, .param .u64 bt, .param .u64 d)
{
  .reg .pred %p<2>;
  .reg .b32 %r<40>;
  .reg .f32 %f<8>;
  .reg .b64 %rd<12>;
  .reg .b16 %rs<2>;
  ld.param.u64 %rd1, [a];
  ld.param.u64 %rd2, [bt];
  ld.param.u64 %rd3, [d];
  mov.u32 %r1, %laneid;
  mov.u32 %r2, tiles;
  // lane i copies 16 bytes of A, lanes 0-15 16 bytes of B^T
  mul.wide.u32 %rd4, %r1, 16;
  add.s64 %rd5, %rd1, %rd4;
  ld.global.v4.u32 {%r3, %r4, %r5, %r6}, [%rd5];
  shl.b32 %r7, %r1, 4;
  add.s32 %r8, %r2, %r7;
  st.shared.v4.u32 [%r8], {%r3, %r4, %r5, %r6};
  setp.ge.u32 %p1, %r1, 16;
  @%p1 bra $copied;
  add.s64 %rd6, %rd2, %rd4;
  ld.global.v4.u32 {%r3, %r4, %r5, %r6}, [%rd6];
  st.shared.v4.u32 [%r8+512], {%r3, %r4, %r5, %r6};
$copied:
  bar.sync 0;
  // A: lane gives row lane % 16, column (lane / 16) * 8
  and.b32 %r9, %r1, 15;
  shr.u32 %r10, %r1, 4;
  shl.b32 %r11, %r9, 5;
  shl.b32 %r12, %r10, 4;
  add.s32 %r13, %r11, %r12;
  add.s32 %r14, %r2, %r13;
  ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%r15, %r16, %r17, %r18}, [%r14];
  // B: lane gives B^T row lane % 8, column ((lane / 8) & 1) * 8
  and.b32 %r19, %r1, 7;
  shr.u32 %r20, %r1, 3;
  and.b32 %r20, %r20, 1;
  shl.b32 %r21, %r19, 5;
  shl.b32 %r22, %r20, 4;
  add.s32 %r23, %r21, %r22;
  add.s32 %r24, %r2, %r23;
  ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%r25, %r26}, [%r24+512];
  mov.f32 %f1, 0f00000000;
  mov.f32 %f2, 0f00000000;
  mov.f32 %f3, 0f00000000;
  mov.f32 %f4, 0f00000000;
  mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%f1, %f2, %f3, %f4}, {%r15, %r16, %r17, %r18}, {%r25, %r26}, {%f1, %f2, %f3, %f4};
  // D: (g, c) and (g, c + 1), (g + 8, c) and (g + 8, c + 1); g = lane / 4,
  // c = 2 (lane % 4)
  shr.u32 %r27, %r1, 2;
  and.b32 %r28, %r1, 3;
  shl.b32 %r29, %r28, 1;
  shl.b32 %r30, %r27, 3;
  add.s32 %r31, %r30, %r29;
  mul.wide.u32 %rd7, %r31, 4;
  add.s64 %rd8, %rd3, %rd7;
  st.global.v2.f32 [%rd8], {%f1, %f2};
  st.global.v2.f32 [%rd8+256], {%f3, %f4};
  ret;
}
)");
  ASSERT_TRUE(m);
  auto bf16 = [](float x) { // exactly representable values only
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    return static_cast<uint16_t>(bits >> 16);
  };
  std::vector<float> a(16 * 16), b(16 * 8);
  for (int i = 0; i < 16; ++i)
    for (int k = 0; k < 16; ++k)
      a[i * 16 + k] = static_cast<float>((i * 3 + k * 5) % 7 - 3);
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n)
      b[k * 8 + n] = static_cast<float>((k * 2 + n * 7) % 5 - 2) * 0.5f;
  Buffer<uint16_t> da(16 * 16);
  std::vector<uint16_t> bt(8 * 16);
  std::vector<float> d(16 * 8, -1.0f);
  gBuffers.push_back({reinterpret_cast<uintptr_t>(bt.data()), bt.size() * 2});
  gBuffers.push_back({reinterpret_cast<uintptr_t>(d.data()), d.size() * 4});
  for (int i = 0; i < 256; ++i)
    da.data[i] = bf16(a[i]);
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n)
      bt[n * 16 + k] = bf16(b[k * 8 + n]);
  uint16_t *pa = da.ptr(), *pb = bt.data();
  float *pd = d.data();
  run(*m, "mma16816", {&pa, &pb, &pd}, 1, 32);
  for (int i = 0; i < 16; ++i)
    for (int n = 0; n < 8; ++n) {
      float want = 0;
      for (int k = 0; k < 16; ++k)
        want += a[i * 16 + k] * b[k * 8 + n];
      EXPECT_EQ(d[i * 8 + n], want) << "D[" << i << "][" << n << "]";
    }
}

// cp.async lands at the wait that covers it: a read before the wait sees
// the old bytes (here zeros), one after it the copy; src-size 0 writes
// zeros without reading.
TEST(PtxInterpreter, AsyncCopiesLandAtTheirWait) {
  auto m = parse(R"(
.shared .align 16 .b8 buffer[32];
.visible .entry async(.param .u64 x, .param .u64 out)
{
  .reg .b32 %r<8>;
  .reg .b64 %rd<4>;
  ld.param.u64 %rd1, [x];
  ld.param.u64 %rd2, [out];
  mov.u32 %r1, buffer;
  st.shared.u32 [%r1+16], 7;
  cp.async.cg.shared.global [%r1], [%rd1], 16;
  cp.async.cg.shared.global [%r1+16], [%rd1], 16, 0;
  ld.shared.u32 %r2, [%r1];
  ld.shared.u32 %r3, [%r1+16];
  cp.async.commit_group;
  cp.async.wait_group 0;
  ld.shared.u32 %r4, [%r1];
  ld.shared.u32 %r5, [%r1+16];
  st.global.v4.u32 [%rd2], {%r2, %r3, %r4, %r5};
  ret;
}
)");
  ASSERT_TRUE(m);
  Buffer<uint32_t> x(4, 42);
  std::vector<uint32_t> out(4, 1);
  gBuffers.push_back({reinterpret_cast<uintptr_t>(out.data()), 16});
  uint32_t *px = x.ptr(), *po = out.data();
  run(*m, "async", {&px, &po}, 1, 1);
  EXPECT_EQ(out, (std::vector<uint32_t>{0, 7, 42, 0}));
}

const char *kStorePastTheEnd = R"(
.visible .entry past(.param .u64 x)
{
  .reg .b32 %r<2>;
  .reg .b64 %rd<4>;
  ld.param.u64 %rd1, [x];
  mov.u32 %r1, %tid.x;
  mul.wide.u32 %rd2, %r1, 4;
  add.s64 %rd3, %rd1, %rd2;
  st.global.u32 [%rd3], %r1;
  ret;
}
)";

TEST(PtxInterpreterDeathTest, OutOfBoundsStore) {
  auto m = parse(kStorePastTheEnd);
  ASSERT_TRUE(m);
  Buffer<uint32_t> x(31);
  uint32_t *p = x.ptr();
  EXPECT_DEATH(run(*m, "past", {&p}, 1, 32),
               "kernel past, block \\(0,0,0\\), PTX line .* `st.global.u32 "
               "\\[%rd3\\], %r1;`: thread 31: 4 bytes at .* are not device "
               "memory");
}

TEST(PtxInterpreterDeathTest, SharedMemoryPastTheLaunch) {
  auto m = parse(R"(
.extern .shared .align 16 .b8 smem[];
.visible .entry sharedpast()
{
  .reg .b32 %r<4>;
  mov.u32 %r1, %tid.x;
  shl.b32 %r2, %r1, 2;
  mov.u32 %r3, smem;
  add.s32 %r3, %r3, %r2;
  st.shared.u32 [%r3], %r1;
  ret;
}
)");
  ASSERT_TRUE(m);
  EXPECT_DEATH(run(*m, "sharedpast", {}, 1, 32, 64),
               "shared memory access at 64 \\(\\+4\\) past 64 bytes");
}

// The reversal without its bar.sync: warp 3 reads bytes that warp 4 writes
// afterwards (on a GPU, before or after: a race).
TEST(PtxInterpreterDeathTest, SharedMemoryRace) {
  auto m = parse(reverseKernel(/*barrier=*/false));
  ASSERT_TRUE(m);
  Buffer<float> x(256);
  float *p = x.ptr();
  EXPECT_DEATH(run(*m, "reverse", {&p}, 1, 256, 256 * 4),
               "shared memory race: byte 512, read by another warp, is "
               "written by warp 4 with no barrier between");
}

TEST(PtxInterpreterDeathTest, ShuffleWithExitedLanes) {
  auto m = parse(R"(
.visible .entry early()
{
  .reg .pred %p<2>;
  .reg .b32 %r<4>;
  mov.u32 %r1, %laneid;
  setp.gt.u32 %p1, %r1, 15;
  @%p1 ret;
  shfl.sync.bfly.b32 %r2, %r1, 16, 31, -1;
  ret;
}
)");
  ASSERT_TRUE(m);
  EXPECT_DEATH(run(*m, "early", {}, 1, 32),
               "lane 0 reads lane 16, which is not executing this shuffle");
}

TEST(PtxInterpreterDeathTest, EndlessLoop) {
  auto m = parse(R"(
.visible .entry spin()
{
$top:
  bra.uni $top;
}
)");
  ASSERT_TRUE(m);
  setenv("PALMRT_FAKE_CUDA_MAX_STEPS", "100000", 1);
  EXPECT_DEATH(run(*m, "spin", {}, 1, 32), "no end after 100000 thread");
  unsetenv("PALMRT_FAKE_CUDA_MAX_STEPS");
}

TEST(PtxInterpreter, ParseErrorsNameTheLine) {
  std::string error;
  EXPECT_FALSE(ptxi::parseModule(
      std::string(kHeader) +
          ".visible .entry k()\n{\n  .reg .b32 %r<2>;\n"
          "  vote.sync.all.pred %r1, %r1, -1;\n}\n",
      &error));
  EXPECT_EQ(error, "PTX line 7: the interpreter does not support "
                   "'vote.sync.all.pred'");
  EXPECT_FALSE(ptxi::parseModule(
      std::string(kHeader) + ".visible .entry k()\n{\n  bra $nowhere;\n}\n",
      &error));
  EXPECT_EQ(error, "PTX line 6: unknown label $nowhere");
}

} // namespace
