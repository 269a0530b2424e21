//===- ptx_interpreter.h - runs PTX kernels on the host, for tests --------===//
//
// The fake libcuda (fake_driver.cc) runs kernels it is given as PTX text
// with this interpreter, so the kernels palm-compile generates and the
// runtime's own kernels (nvcc -ptx of the same sources as the fatbins) are
// executed instruction by instruction on a machine without a GPU: the very
// PTX a GPU's driver would compile, not a re-implementation.
//
// ptx_parser.cc turns PTX text into the decoded kernels of ptx_ir.h and
// ptx_executor.cc runs them. Threads run in warps of 32 in lock step: each
// warp executes the instruction with the smallest program counter among its
// waiting lanes, for every lane at that counter (which reconverges
// structured control flow and makes shfl.sync see its partners); bar.sync
// waits for every warp of the block. Global (and generic) addresses are
// host addresses that must lie in device memory, shared and local memory
// are per-block and per-thread host buffers, and every access is bounds
// checked: an out-of-bounds access, two warps touching a shared-memory byte
// between the same two barriers (one of them writing), a shuffle from a
// lane that is not there, or an instruction the interpreter does not know
// is a hard error naming the kernel and the PTX line.
//
// It covers the subset of PTX that LLVM's NVPTX backend and nvcc emit for
// palm's kernels (integer, f32/f64/bf16 arithmetic, conversions, predicates,
// loads and stores in every state space, vectors, shuffles, barriers); it
// is a test tool, not a general PTX emulator.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_TESTS_FAKE_CUDA_PTX_INTERPRETER_H
#define PALMRT_TESTS_FAKE_CUDA_PTX_INTERPRETER_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ptxi {

struct Module;
struct Kernel;

/// Where device memory is: returns whether [p, p + bytes) lies in one
/// allocation and, if so, that allocation's bounds (for caching).
using DeviceRangeFn = bool (*)(uintptr_t p, size_t bytes, uintptr_t *begin,
                               uintptr_t *end);

/// Parses PTX text. On failure returns null and sets `error` to a message
/// with the line.
std::shared_ptr<Module> parseModule(const std::string &text,
                                    std::string *error);

/// The entry called `name`, or null.
const Kernel *findKernel(const Module &module, const std::string &name);

/// Runs a kernel launch to completion. `params` follows cuLaunchKernel:
/// params[i] points at the value of parameter i. Aborts the process with a
/// message on any error in the kernel.
void launch(const Kernel &kernel, void **params, const unsigned grid[3],
            const unsigned block[3], unsigned dynamicSharedBytes,
            DeviceRangeFn deviceRange);

} // namespace ptxi

#endif // PALMRT_TESTS_FAKE_CUDA_PTX_INTERPRETER_H
