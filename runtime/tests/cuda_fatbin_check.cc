//===- cuda_fatbin_check.cc - what the embedded GPU modules hold ----------===//
//
// The palmrt-cuda-compile test: walks the fatbins embedded in libpalmrt and
// checks that each holds machine code for sm_80 and sm_90 (by the fatbin's
// entry headers and by each ELF image's own e_flags) and PTX for
// compute_90, and that every image holds every kernel the backend launches.
// No GPU is needed. Fatbin layout (undocumented but stable since CUDA 9):
// a 16-byte header (magic 0xBA55ED50, version, header size, payload size),
// then entries, each a header (kind 1 = PTX, 2 = ELF; header size; payload
// size; SM version at byte 28) followed by its payload.
//
//===----------------------------------------------------------------------===//

#include "cuda/embedded_kernels.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace {

template <typename T> T read(const unsigned char *p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

struct Module {
  const char *name;
  const unsigned char *data;
  size_t size;
  std::vector<std::string> kernels;
};

bool contains(const unsigned char *data, size_t size, const std::string &s) {
  return std::search(data, data + size, s.begin(), s.end()) != data + size;
}

int check(const Module &m) {
  int failures = 0;
  auto fail = [&](const std::string &what) {
    std::printf("FAIL %s: %s\n", m.name, what.c_str());
    ++failures;
  };
  if (m.size < 16 || read<uint32_t>(m.data) != 0xBA55ED50u) {
    fail("not a fatbin");
    return failures;
  }
  uint16_t headerSize = read<uint16_t>(m.data + 6);
  uint64_t payload = read<uint64_t>(m.data + 8);
  if (headerSize + payload > m.size) {
    fail("truncated");
    return failures;
  }
  std::set<int> elf, ptx;
  const unsigned char *at = m.data + headerSize, *end = at + payload;
  while (at + 32 <= end) {
    uint16_t kind = read<uint16_t>(at);
    uint32_t entryHeader = read<uint32_t>(at + 4);
    uint64_t entrySize = read<uint64_t>(at + 8);
    uint32_t sm = read<uint32_t>(at + 28);
    const unsigned char *image = at + entryHeader;
    if (image + entrySize > end) {
      fail("an entry runs past the end");
      break;
    }
    if (kind == 2) {
      // ELF: e_machine 190 (CUDA); the SM version in bits 8-15 of e_flags.
      uint16_t machine = read<uint16_t>(image + 18);
      uint32_t flags = read<uint32_t>(image + 48);
      int elfSm = static_cast<int>((flags >> 8) & 0xff);
      if (std::memcmp(image,
                      "\x7f"
                      "ELF",
                      4) != 0 ||
          machine != 190)
        fail("an ELF entry is not a CUDA ELF image");
      else if (elfSm != static_cast<int>(sm))
        fail("an ELF image for sm_" + std::to_string(elfSm) +
             " is filed as sm_" + std::to_string(sm));
      for (const std::string &k : m.kernels)
        if (!contains(image, entrySize, k))
          fail("sm_" + std::to_string(sm) + " lacks kernel " + k);
      elf.insert(static_cast<int>(sm));
      std::printf("%s: sm_%u machine code (%llu bytes)\n", m.name, sm,
                  static_cast<unsigned long long>(entrySize));
    } else if (kind == 1) {
      ptx.insert(static_cast<int>(sm));
      std::printf("%s: compute_%u PTX (%llu bytes, compressed)\n", m.name, sm,
                  static_cast<unsigned long long>(entrySize));
    }
    at = image + entrySize;
  }
  for (int sm : {80, 90})
    if (!elf.count(sm))
      fail("no machine code for sm_" + std::to_string(sm));
  if (!ptx.count(90))
    fail("no PTX for compute_90");
  return failures;
}

} // namespace

int main() {
  std::vector<std::string> attention, attentionGrad, copies;
  for (const char *type : {"f32", "bf16"})
    for (int dv : {64, 128, 256}) {
      std::string suffix = std::string(type) + "_" + std::to_string(dv);
      attention.push_back("palmrt_attention_" + suffix);
      attentionGrad.push_back("palmrt_attention_grad_dq_" + suffix);
      attentionGrad.push_back("palmrt_attention_grad_dkv_" + suffix);
    }
  for (int d : {64, 128, 256})
    attention.push_back("palmrt_attention_mma_bf16_" + std::to_string(d));
  for (int d : {64, 128})
    for (const char *kernel : {"dq", "dkv"})
      attentionGrad.push_back(std::string("palmrt_attention_grad_mma_") +
                              kernel + "_bf16_" + std::to_string(d));
  for (int w : {1, 2, 4, 8, 16})
    copies.push_back("palmrt_block_copy_" + std::to_string(w));
  int failures = check({"attention", palmrt_attention_fatbin,
                        palmrt_attention_fatbin_size, attention}) +
                 check({"attention_grad", palmrt_attention_grad_fatbin,
                        palmrt_attention_grad_fatbin_size, attentionGrad}) +
                 check({"block_copy", palmrt_block_copy_fatbin,
                        palmrt_block_copy_fatbin_size, copies});
  std::printf(failures ? "%d failures\n" : "embedded kernels: ok\n", failures);
  return failures ? 1 : 0;
}
