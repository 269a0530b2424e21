//===- cuda_test_util.h - device buffers and skipping for GPU tests ------===//
//
// The cuda tests run wherever they are built: on a machine without a GPU
// they skip with the reason; with PALMRT_TEST_REQUIRE_GPU set (the runs
// against the fake libraries in fake_cuda/) a missing GPU fails instead.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_TESTS_CUDA_TEST_UTIL_H
#define PALMRT_TESTS_CUDA_TEST_UTIL_H

#include "api/context.h"
#include "base/bf16.h"
#include "device.h"
#include "program_json.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace palmrt {

/// Whether a failure to open the device means the machine has no usable
/// GPU (no driver, a stub driver, no device), as opposed to a broken
/// installation on a machine with one.
inline bool meansNoGpu(const absl::Status &status) {
  std::string m(status.message());
  return m.find("libcuda.so.1") != std::string::npos ||
         m.find("cuInit") != std::string::npos ||
         m.find("no CUDA device") != std::string::npos ||
         m.find("without the cuda backend") != std::string::npos;
}

/// Skips the running test (printing the reason once) or, when a GPU is
/// required, fails it.
#define PALMRT_SKIP_WITHOUT_GPU(reason)                                        \
  do {                                                                         \
    if (std::getenv("PALMRT_TEST_REQUIRE_GPU"))                                \
      FAIL() << "PALMRT_TEST_REQUIRE_GPU is set but: " << (reason);            \
    static bool printed = false;                                               \
    if (!printed) {                                                            \
      std::printf("SKIPPED: no GPU (%s)\n", std::string(reason).c_str());      \
      std::fflush(stdout);                                                     \
      printed = true;                                                          \
    }                                                                          \
    GTEST_SKIP() << "no GPU (" << (reason) << ")";                             \
  } while (false)

/// Device memory holding a vector's worth of T, released at scope end.
template <typename T> class DeviceVector {
public:
  DeviceVector(Device &device, size_t size) : device(device), count(size) {
    absl::StatusOr<void *> memory =
        device.allocate(static_cast<int64_t>(size * sizeof(T)));
    EXPECT_TRUE(memory.ok()) << memory.status();
    data = memory.ok() ? *memory : nullptr;
  }
  DeviceVector(Device &device, const std::vector<T> &values)
      : DeviceVector(device, values.size()) {
    set(values);
  }
  ~DeviceVector() {
    if (data)
      device.release(data);
  }
  DeviceVector(const DeviceVector &) = delete;
  DeviceVector &operator=(const DeviceVector &) = delete;

  void set(const std::vector<T> &values) {
    ASSERT_EQ(values.size(), count);
    ASSERT_TRUE(device.upload(data, values.data(), bytes()).ok());
  }
  std::vector<T> get() const {
    std::vector<T> out(count);
    absl::Status s = device.download(out.data(), data, bytes());
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }
  T *at(size_t offset) { return static_cast<T *>(data) + offset; }
  void *pointer() const { return data; }
  int64_t bytes() const { return static_cast<int64_t>(count * sizeof(T)); }

private:
  Device &device;
  size_t count;
  void *data = nullptr;
};

/// bf16 copies of f32 values (round to nearest even), and back.
inline std::vector<uint16_t> toBf16(const std::vector<float> &v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    out[i] = floatToBf16(v[i]);
  return out;
}

inline std::vector<float> fromBf16(const std::vector<uint16_t> &v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    out[i] = bf16ToFloat(v[i]);
  return out;
}

/// The largest |got - want| over the largest |want| (0 when both are 0).
inline double errorToLargest(const std::vector<float> &got,
                             const std::vector<float> &want) {
  double error = 0, largest = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    error = std::max(error, std::fabs(static_cast<double>(got[i]) - want[i]));
    largest = std::max(largest, std::fabs(static_cast<double>(want[i])));
  }
  return largest > 0 ? error / largest : error;
}

/// A context of one cuda device with one group (of that device); null,
/// with the reason in `why`, without a GPU.
inline std::unique_ptr<palmrt_context> makeCudaContext(absl::Status *why) {
  auto info = parseProgramInfo(programJson({{"x", 1}}, {{"x"}}, "cuda"));
  EXPECT_TRUE(info.ok()) << info.status();
  auto ctx = createContext(*info);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  auto device = openCudaDevice(0, 1, false);
  if (!device.ok()) {
    *why = device.status();
    return nullptr;
  }
  (*ctx)->device = std::move(*device);
  *why = (*ctx)->device->connect(**ctx);
  return std::move(*ctx);
}

/// The context the tests share, opened once per test binary.
struct TestGpu {
  std::unique_ptr<palmrt_context> ctx;
  absl::Status why;
};

inline TestGpu &testGpu() {
  static TestGpu g = [] {
    TestGpu g;
    g.ctx = makeCudaContext(&g.why);
    return g;
  }();
  return g;
}

/// Tests on testGpu(): skipped without a GPU (failed where one is
/// required), failed when a GPU that is there does not open.
class OnGpu : public ::testing::Test {
protected:
  void SetUp() override {
    if (!testGpu().ctx) {
      if (!meansNoGpu(testGpu().why))
        FAIL() << "the GPU does not open: " << testGpu().why;
      PALMRT_SKIP_WITHOUT_GPU(testGpu().why.message());
    }
    ASSERT_TRUE(testGpu().why.ok()) << testGpu().why;
  }
  palmrt_context *ctx() { return testGpu().ctx.get(); }
  Device &device() { return *testGpu().ctx->device; }
};

} // namespace palmrt

#endif // PALMRT_TESTS_CUDA_TEST_UTIL_H
