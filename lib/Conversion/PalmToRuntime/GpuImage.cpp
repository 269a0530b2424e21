//===- GpuImage.cpp - PTX and cubins of the generated kernels, one image --===//
//
// Layout (little endian; docs/runtime-abi.md): "PALMGPU1", uint32 count,
// uint32 0, then `count` entries {uint32 kind (0 PTX, 1 cubin), uint32 sm
// (0 for PTX), uint64 offset, uint64 bytes}, then the data, each piece
// 64-byte aligned from the start of the image. The PTX ends with a NUL.
//
//===----------------------------------------------------------------------===//

#include "palm/Conversion/Passes.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

using namespace mlir;

namespace {

/// Removes its temporary files however the function returns.
struct TempFiles {
  std::vector<llvm::SmallString<128>> paths;
  ~TempFiles() {
    for (auto &p : paths)
      llvm::sys::fs::remove(p);
  }
  StringRef make(StringRef suffix, std::string &error) {
    llvm::SmallString<128> path;
    if (auto ec = llvm::sys::fs::createTemporaryFile("palm-gpu", suffix, path)) {
      error = "cannot create a temporary file: " + ec.message();
      return {};
    }
    paths.push_back(path);
    return paths.back();
  }
};

void append(std::string &out, const void *data, size_t bytes) {
  out.append(static_cast<const char *>(data), bytes);
}

} // namespace

FailureOr<std::string> mlir::palm::buildGpuImage(StringRef ptx, bool cubins,
                                                 std::string &error) {
  struct Entry {
    uint32_t kind, sm;
    std::string data;
  };
  std::vector<Entry> entries;
  entries.push_back({0, 0, ptx.str() + '\0'});

  std::string ptxas = std::string(PALM_CUDA_ROOT) + "/bin/ptxas";
  if (cubins && llvm::sys::fs::can_execute(ptxas)) {
    TempFiles temps;
    StringRef input = temps.make("ptx", error);
    StringRef log = temps.make("log", error);
    if (input.empty() || log.empty())
      return failure();
    {
      std::error_code ec;
      llvm::raw_fd_ostream os(input, ec);
      if (ec) {
        error = "cannot write " + input.str() + ": " + ec.message();
        return failure();
      }
      os << ptx;
    }
    for (uint32_t sm : {80u, 90u}) {
      StringRef output = temps.make("cubin", error);
      if (output.empty())
        return failure();
      std::string arch = "-arch=sm_" + std::to_string(sm);
      std::optional<StringRef> redirects[] = {std::nullopt, log, log};
      std::string message;
      int status = llvm::sys::ExecuteAndWait(
          ptxas, {ptxas, arch, "-O3", input, "-o", output}, std::nullopt,
          redirects, 0, 0, &message);
      if (status != 0) {
        auto text = llvm::MemoryBuffer::getFile(log);
        error = "ptxas " + arch + " rejected the generated kernels" +
                (message.empty() ? "" : " (" + message + ")") +
                (text ? ": " + (*text)->getBuffer().trim().str() : "");
        return failure();
      }
      auto cubin = llvm::MemoryBuffer::getFile(output);
      if (!cubin) {
        error = "cannot read the cubin ptxas wrote: " +
                cubin.getError().message();
        return failure();
      }
      entries.push_back({1, sm, (*cubin)->getBuffer().str()});
    }
  }

  auto alignUp = [](uint64_t x) { return (x + 63) / 64 * 64; };
  std::string image = "PALMGPU1";
  uint32_t count = entries.size(), zero = 0;
  append(image, &count, 4);
  append(image, &zero, 4);
  uint64_t offset = alignUp(16 + 24 * entries.size());
  for (const Entry &e : entries) {
    uint64_t bytes = e.data.size();
    append(image, &e.kind, 4);
    append(image, &e.sm, 4);
    append(image, &offset, 8);
    append(image, &bytes, 8);
    offset = alignUp(offset + bytes);
  }
  for (const Entry &e : entries) {
    image.resize(alignUp(image.size()), '\0');
    image += e.data;
  }
  return image;
}
