//===- ptx_executor.cc - runs the interpreter's kernels -------------------===//
//
// Keeps every register of every thread of a block as 64 bits and runs the
// block warp by warp (ptx_interpreter.h says how, and what it checks).
//
//===----------------------------------------------------------------------===//

#include "ptx_ir.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <unordered_map>
#include <vector>

namespace ptxi {
namespace {

//===----------------------------------------------------------------------===//
// Values
//===----------------------------------------------------------------------===//

uint64_t maskBits(int bits) {
  return bits >= 64 ? ~uint64_t(0) : ((uint64_t(1) << bits) - 1);
}

int64_t signExtend(uint64_t v, int bits) {
  if (bits >= 64)
    return static_cast<int64_t>(v);
  uint64_t sign = uint64_t(1) << (bits - 1);
  v &= maskBits(bits);
  return static_cast<int64_t>((v ^ sign) - sign);
}

template <typename To, typename From> To bitCast(From from) {
  static_assert(sizeof(To) == sizeof(From));
  To to;
  std::memcpy(&to, &from, sizeof(To));
  return to;
}

float asF32(uint64_t v) { return bitCast<float>(static_cast<uint32_t>(v)); }
uint64_t fromF32(float f) { return bitCast<uint32_t>(f); }
double asF64(uint64_t v) { return bitCast<double>(v); }
uint64_t fromF64(double d) { return bitCast<uint64_t>(d); }

float bf16ToF32(uint64_t v) { return asF32((v & 0xFFFF) << 16); }

uint64_t f32ToBf16(float f) {
  uint32_t u = static_cast<uint32_t>(fromF32(f));
  if ((u & 0x7FFFFFFFu) > 0x7F800000u)
    return 0x7FFF;
  u += 0x7FFFu + ((u >> 16) & 1u);
  return u >> 16;
}

/// A float operand's value (exact in double for every float type).
double readFloat(uint64_t v, Type t) {
  if (t.bf16)
    return bf16ToF32(v);
  return t.bits == 32 ? asF32(v) : asF64(v);
}

/// Rounds a value to a float type once (f32 and bf16 results of f32 math
/// are computed in float by the callers; this is for conversions).
uint64_t writeFloat(double x, Type t) {
  if (t.bf16)
    return f32ToBf16(static_cast<float>(x));
  return t.bits == 32 ? fromF32(static_cast<float>(x)) : fromF64(x);
}

//===----------------------------------------------------------------------===//
// Executor
//===----------------------------------------------------------------------===//

// AtShuffle: waiting at a shfl.sync for the other lanes of its member mask
// (lanes that diverged and reach it later, as on sm_70 and later GPUs).
enum State : uint8_t { Running, AtShuffle, AtBarrier, Done };

struct AsyncCopy {
  unsigned char *dst;
  const unsigned char *src;
  uint32_t bytes, srcBytes;
  const Instr *in;
};

class Launch {
public:
  Launch(const Kernel &k, void **params, const unsigned grid[3],
         const unsigned block[3], unsigned dynamicShared, DeviceRangeFn range)
      : k_(k), range_(range) {
    for (int i = 0; i < 3; ++i) {
      grid_[i] = grid[i];
      block_[i] = block[i];
    }
    n_ = static_cast<int>(block[0] * block[1] * block[2]);
    param_.assign(k.paramBytes, 0);
    for (size_t i = 0; i < k.params.size(); ++i)
      std::memcpy(param_.data() + k.params[i].first, params[i],
                  k.params[i].second);
    dynamicBase_ = (k.staticShared + 15) / 16 * 16;
    shared_.assign(dynamicBase_ + dynamicShared, 0);
    writeEpoch_.assign(shared_.size(), 0);
    readEpoch_.assign(shared_.size(), 0);
    writeWarp_.assign(shared_.size(), 0);
    readWarp_.assign(shared_.size(), 0);
    local_.assign(static_cast<size_t>(n_) * k.localBytes, 0);
    regs_.assign(k.regBits.size() * n_, 0);
    pc_.assign(n_, 0);
    state_.assign(n_, Running);
    issued_.assign(n_, {});
    committed_.assign(n_, {});
    carry_.assign(n_, 0);
    const char *limit = std::getenv("PALMRT_FAKE_CUDA_MAX_STEPS");
    maxSteps_ = limit ? std::strtoull(limit, nullptr, 10) : 4000000000ull;
  }

  void run() {
    for (unsigned z = 0; z < grid_[2]; ++z)
      for (unsigned y = 0; y < grid_[1]; ++y)
        for (unsigned x = 0; x < grid_[0]; ++x) {
          ctaid_[0] = x;
          ctaid_[1] = y;
          ctaid_[2] = z;
          runBlock();
        }
  }

private:
  [[noreturn]] void fail(const Instr *in, const char *format, ...) {
    char buffer[512];
    va_list args;
    va_start(args, format);
    std::vsnprintf(buffer, sizeof(buffer), format, args);
    va_end(args);
    std::string where;
    if (in) {
      const auto &lines = k_.module->lines;
      std::string text = in->line > 0 && in->line <= (int)lines.size()
                             ? lines[in->line - 1]
                             : "";
      size_t first = text.find_first_not_of(" \t");
      where = ", PTX line " + std::to_string(in->line) + " `" +
              (first == std::string::npos ? "" : text.substr(first)) + "`";
    }
    std::fprintf(stderr,
                 "fake libcuda: PTX interpreter: kernel %s, block (%u,%u,%u)"
                 "%s: %s\n",
                 k_.name.c_str(), ctaid_[0], ctaid_[1], ctaid_[2],
                 where.c_str(), buffer);
    std::fflush(stderr);
    std::abort();
  }

  void runBlock() {
    std::fill(pc_.begin(), pc_.end(), 0);
    std::fill(state_.begin(), state_.end(), Running);
    std::fill(shared_.begin(), shared_.end(), 0);
    for (auto &i : issued_)
      i.clear();
    for (auto &c : committed_)
      c.clear();
    std::fill(writeEpoch_.begin(), writeEpoch_.end(), 0);
    std::fill(readEpoch_.begin(), readEpoch_.end(), 0);
    epoch_ = 1;
    int warps = (n_ + 31) / 32;
    while (true) {
      for (int w = 0; w < warps; ++w)
        runWarp(w);
      bool waiting = false;
      for (int t = 0; t < n_; ++t)
        if (state_[t] == AtBarrier) {
          waiting = true;
          state_[t] = Running;
          ++pc_[t];
        }
      if (!waiting)
        return;
      ++epoch_; // accesses before the barrier are ordered before those after
    }
  }

  /// Races on shared memory: warps run one after another here, so a
  /// missing barrier would go unnoticed; instead, a byte written by one warp
  /// and read or written by another (or read by one and written by
  /// another) between the same two barriers is an error.
  void sharedAccess(const Instr &in, const unsigned char *p, uint64_t bytes,
                    int t, bool write) {
    uintptr_t base = reinterpret_cast<uintptr_t>(shared_.data());
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    if (a < base || a + bytes > base + shared_.size())
      return;
    int16_t warp = static_cast<int16_t>(t / 32);
    for (size_t i = a - base; i < a - base + bytes; ++i) {
      if (writeEpoch_[i] == epoch_ && writeWarp_[i] != warp)
        fail(&in, "shared memory race: byte %zu, written by warp %d, is %s "
                  "by warp %d with no barrier between",
             i, writeWarp_[i], write ? "written" : "read", warp);
      if (write) {
        if (readEpoch_[i] == epoch_ && readWarp_[i] != warp)
          fail(&in, "shared memory race: byte %zu, read by %s, is written "
                    "by warp %d with no barrier between",
               i, readWarp_[i] < 0 ? "several warps" : "another warp", warp);
        writeEpoch_[i] = epoch_;
        writeWarp_[i] = warp;
      } else if (readEpoch_[i] == epoch_ && readWarp_[i] != warp) {
        readWarp_[i] = -1; // read by several warps
      } else {
        readEpoch_[i] = epoch_;
        readWarp_[i] = warp;
      }
    }
  }

  void runWarp(int w) {
    const int lo = w * 32, hi = std::min(n_, lo + 32);
    while (true) {
      int minPc = INT_MAX;
      for (int t = lo; t < hi; ++t)
        if (state_[t] == Running && pc_[t] < minPc)
          minPc = pc_[t];
      if (minPc == INT_MAX) {
        for (int t = lo; t < hi; ++t)
          if (state_[t] == AtShuffle)
            fail(&k_.code[pc_[t]],
                 "lane %d waits at this shuffle for lanes of its member "
                 "mask that are elsewhere (at a barrier, another shuffle, or "
                 "exited)",
                 t - lo);
        return;
      }
      uint32_t mask = 0;
      for (int t = lo; t < hi; ++t)
        if (state_[t] == Running && pc_[t] == minPc)
          mask |= 1u << (t - lo);
      const Instr &in = k_.code[minPc];
      steps_ += __builtin_popcount(mask);
      if (steps_ > maxSteps_)
        fail(&in, "no end after %llu thread instructions (an endless loop? "
                  "PALMRT_FAKE_CUDA_MAX_STEPS raises the limit)",
             static_cast<unsigned long long>(maxSteps_));
      if (in.guard >= 0)
        for (int t = lo; t < hi; ++t)
          if ((mask >> (t - lo) & 1) &&
              ((reg(in.guard, t) & 1) != 0) == in.guardNegate) {
            ++pc_[t];
            mask &= ~(1u << (t - lo));
          }
      if (!mask)
        continue;
      switch (in.op) {
      case Op::Bra:
        for (int t = lo; t < hi; ++t)
          if (mask >> (t - lo) & 1)
            pc_[t] = static_cast<int>(in.ops[0].imm);
        break;
      case Op::Ret:
        for (int t = lo; t < hi; ++t)
          if (mask >> (t - lo) & 1)
            state_[t] = Done;
        break;
      case Op::Bar:
        for (int t = lo; t < hi; ++t)
          if (mask >> (t - lo) & 1)
            state_[t] = AtBarrier;
        break;
      case Op::Shfl:
      case Op::Mma:
      case Op::Ldmatrix: {
        // Converge: lanes of the member mask (mma: the whole warp) that
        // have not exited all take part; those here first wait for the rest.
        uint32_t members =
            in.op != Op::Shfl
                ? ~0u
                : static_cast<uint32_t>(
                      operand(in, 4, lo + __builtin_ctz(mask)));
        uint32_t live = 0, waiting = 0;
        for (int t = lo; t < hi; ++t) {
          if (state_[t] != Done)
            live |= 1u << (t - lo);
          if (state_[t] == AtShuffle && pc_[t] == minPc)
            waiting |= 1u << (t - lo);
        }
        uint32_t here = mask | waiting;
        if ((members & live & ~here) != 0) {
          for (int t = lo; t < hi; ++t)
            if (mask >> (t - lo) & 1)
              state_[t] = AtShuffle;
          break;
        }
        for (int t = lo; t < hi; ++t)
          if (here >> (t - lo) & 1)
            state_[t] = Running;
        if (in.op == Op::Shfl)
          shuffle(in, lo, hi, here);
        else if (in.op == Op::Mma)
          matrixMultiply(in, lo, hi, here);
        else
          loadMatrices(in, lo, hi, here);
        break;
      }
      default:
        for (int t = lo; t < hi; ++t)
          if (mask >> (t - lo) & 1) {
            execute(in, t);
            ++pc_[t];
          }
      }
    }
  }

  /// Thread t's local memory.
  unsigned char *localOf(int t) {
    return local_.data() + static_cast<size_t>(t) * k_.localBytes;
  }

  uint64_t &reg(int r, int t) { return regs_[static_cast<size_t>(r) * n_ + t]; }

  void set(int r, int t, uint64_t v) {
    if (r >= 0)
      reg(r, t) = v & maskBits(k_.regBits[r]);
  }

  uint64_t special(int id, int t) {
    unsigned x = t % block_[0], y = (t / block_[0]) % block_[1],
             z = t / (block_[0] * block_[1]);
    switch (id) {
    case TidX: return x;
    case TidY: return y;
    case TidZ: return z;
    case NtidX: return block_[0];
    case NtidY: return block_[1];
    case NtidZ: return block_[2];
    case CtaidX: return ctaid_[0];
    case CtaidY: return ctaid_[1];
    case CtaidZ: return ctaid_[2];
    case NctaidX: return grid_[0];
    case NctaidY: return grid_[1];
    case NctaidZ: return grid_[2];
    case LaneId: return t % 32;
    default: return t / 32;
    }
  }

  uint64_t symbolValue(const Symbol &s) {
    if (s.space == Space::Shared && s.offset == ~uint64_t(0))
      return dynamicBase_;
    return s.offset;
  }

  uint64_t value(const Instr &in, const Operand &o, int t) {
    uint64_t v;
    switch (o.kind) {
    case OperandKind::Reg: v = reg(o.reg, t); break;
    case OperandKind::Imm: v = o.imm; break;
    case OperandKind::Special: v = special(static_cast<int>(o.imm), t); break;
    case OperandKind::Symbol: v = symbolValue(k_.symbols[o.imm]); break;
    default: fail(&in, "unexpected operand");
    }
    return o.negate ? !(v & 1) : v;
  }

  uint64_t operand(const Instr &in, size_t i, int t) {
    if (i >= in.ops.size())
      fail(&in, "missing operand %zu", i);
    return value(in, in.ops[i], t);
  }

  int dest(const Instr &in) {
    if (in.ops.empty())
      fail(&in, "missing destination");
    const Operand &o = in.ops[0];
    if (o.kind == OperandKind::Sink)
      return -1;
    if (o.kind != OperandKind::Reg)
      fail(&in, "the destination is not a register");
    return o.reg;
  }

  /// The host address of `bytes` bytes at address operand `o` (plus
  /// `extra`) in the instruction's state space; bounds checked.
  unsigned char *address(const Instr &in, const Operand &o, int t,
                         uint64_t extra, uint64_t bytes) {
    if (o.kind != OperandKind::Addr)
      fail(&in, "expected an address");
    uint64_t a = static_cast<uint64_t>(o.offset) + extra;
    if (o.base >= 0)
      a += reg(o.base, t);
    if (o.symbol >= 0)
      a += symbolValue(k_.symbols[o.symbol]);
    switch (in.space) {
    case Space::Param:
      if (a + bytes > param_.size() || a + bytes < a)
        fail(&in, "parameter access at offset %llu, past %zu bytes",
             static_cast<unsigned long long>(a), param_.size());
      return param_.data() + a;
    case Space::Shared:
      if (a + bytes > shared_.size() || a + bytes < a)
        fail(&in, "shared memory access at %llu (+%llu) past %zu bytes",
             static_cast<unsigned long long>(a),
             static_cast<unsigned long long>(bytes), shared_.size());
      return shared_.data() + a;
    case Space::Local:
      if (a + bytes > k_.localBytes || a + bytes < a)
        fail(&in, "local memory access at %llu past %llu bytes",
             static_cast<unsigned long long>(a),
             static_cast<unsigned long long>(k_.localBytes));
      return localOf(t) + a;
    default:
      return hostAddress(in, a, bytes, t);
    }
  }

  /// A global or generic address: device memory, a module variable, or
  /// (generic only) this block's shared memory or this thread's locals.
  unsigned char *hostAddress(const Instr &in, uint64_t a, uint64_t bytes,
                             int t) {
    if (a >= cacheBegin_ && a + bytes <= cacheEnd_ && a + bytes >= a)
      return reinterpret_cast<unsigned char *>(a);
    auto inside = [&](const unsigned char *base, uint64_t size) {
      uint64_t b = reinterpret_cast<uintptr_t>(base);
      return a >= b && a + bytes <= b + size && a + bytes >= a;
    };
    if (in.space == Space::Generic) {
      if (inside(shared_.data(), shared_.size()) ||
          inside(localOf(t), k_.localBytes))
        return reinterpret_cast<unsigned char *>(a);
    }
    for (const auto &g : k_.module->globals)
      if (inside(g->data(), g->size()))
        return reinterpret_cast<unsigned char *>(a);
    uintptr_t begin, end;
    if (!range_(a, bytes, &begin, &end))
      fail(&in, "thread %d: %llu bytes at %p are not device memory (out of "
                "bounds?)",
           t, static_cast<unsigned long long>(bytes),
           reinterpret_cast<void *>(a));
    cacheBegin_ = begin;
    cacheEnd_ = end;
    return reinterpret_cast<unsigned char *>(a);
  }

  void shuffle(const Instr &in, int lo, int hi, uint32_t mask) {
    uint64_t source[32];
    for (int t = lo; t < hi; ++t)
      if (mask >> (t - lo) & 1)
        source[t - lo] = operand(in, 1, t);
    for (int t = lo; t < hi; ++t) {
      if (!(mask >> (t - lo) & 1))
        continue;
      int lane = t - lo;
      int b = static_cast<int>(operand(in, 2, t) & 31);
      uint64_t c = operand(in, 3, t);
      int segmask = static_cast<int>((c >> 8) & 31), clamp = c & 31;
      int maxLane = (lane & segmask) | (clamp & ~segmask);
      int minLane = lane & segmask;
      int j;
      bool p;
      switch (in.shuffle) {
      case Shuffle::Up: j = lane - b; p = j >= maxLane; break;
      case Shuffle::Down: j = lane + b; p = j <= maxLane; break;
      case Shuffle::Bfly: j = lane ^ b; p = j <= maxLane; break;
      default: j = minLane | (b & ~segmask); p = j <= maxLane; break;
      }
      if (!p)
        j = lane;
      if (j < 0 || j >= 32 || !(mask >> j & 1))
        fail(&in, "lane %d reads lane %d, which is not executing this "
                  "shuffle",
             lane, j);
      set(dest(in), t, source[j]);
      if (in.ops[0].reg2 >= 0)
        set(in.ops[0].reg2, t, p);
      ++pc_[t];
    }
  }

  /// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 over a whole
  /// warp: D (16 x 8) = A (16 x 16) B (16 x 8) + C, fragments as the PTX
  /// ISA lays them out over the lanes.
  void matrixMultiply(const Instr &in, int lo, int hi, uint32_t mask) {
    if (hi - lo != 32 || mask != ~0u)
      fail(&in, "mma.sync needs all 32 lanes of the warp");
    float a[16][16], b[16][8], c[16][8];
    for (int lane = 0; lane < 32; ++lane) {
      int t = lo + lane, g = lane / 4, c2 = 2 * (lane % 4);
      auto element = [&](size_t operand, size_t i) {
        return vectorElement(in.ops.at(operand), i, t);
      };
      for (int i = 0; i < 4; ++i) {
        uint64_t v = element(1, i);
        int row = g + (i & 1) * 8, col = c2 + (i >> 1) * 8;
        a[row][col] = bf16ToF32(v);
        a[row][col + 1] = bf16ToF32(v >> 16);
      }
      for (int i = 0; i < 2; ++i) {
        uint64_t v = element(2, i);
        b[c2 + 8 * i][g] = bf16ToF32(v);
        b[c2 + 8 * i + 1][g] = bf16ToF32(v >> 16);
      }
      for (int i = 0; i < 4; ++i)
        c[g + (i >> 1) * 8][c2 + (i & 1)] = asF32(element(3, i));
    }
    for (int lane = 0; lane < 32; ++lane) {
      int t = lo + lane, g = lane / 4, c2 = 2 * (lane % 4);
      const Operand &d = in.ops[0];
      for (int i = 0; i < 4; ++i) {
        int row = g + (i >> 1) * 8, col = c2 + (i & 1);
        double sum = 0; // bf16 products are exact; one rounding at the end
        for (int kk = 0; kk < 16; ++kk)
          sum += static_cast<double>(a[row][kk]) * b[kk][col];
        set(d.regs.at(i), t, fromF32(static_cast<float>(sum + c[row][col])));
      }
      ++pc_[t];
    }
  }

  /// ldmatrix.sync.aligned.m8n8.xN[.trans].shared.b16: lanes 8m..8m+7
  /// give the addresses of the 8 rows (16 bytes each) of matrix m; lane t
  /// receives, in register m, elements (t/4, 2(t%4)) and (t/4, 2(t%4)+1)
  /// of it, or with .trans (2(t%4), t/4) and (2(t%4)+1, t/4).
  void loadMatrices(const Instr &in, int lo, int hi, uint32_t mask) {
    if (hi - lo != 32 || mask != ~0u)
      fail(&in, "ldmatrix needs all 32 lanes of the warp");
    const Operand &d = in.ops.at(0);
    if (d.kind != OperandKind::Vec ||
        static_cast<int>(d.regs.size()) != in.matrices)
      fail(&in, "ldmatrix needs %d destination registers", in.matrices);
    uint16_t m[4][8][8];
    for (int k = 0; k < in.matrices; ++k)
      for (int r = 0; r < 8; ++r) {
        const unsigned char *row = address(in, in.ops.at(1), lo + 8 * k + r,
                                           0, 16);
        if (reinterpret_cast<uintptr_t>(row) % 16 !=
            reinterpret_cast<uintptr_t>(shared_.data()) % 16)
          fail(&in, "lane %d: ldmatrix row address is not 16-byte aligned",
               8 * k + r);
        sharedAccess(in, row, 16, lo + 8 * k + r, /*write=*/false);
        std::memcpy(m[k][r], row, 16);
      }
    for (int lane = 0; lane < 32; ++lane) {
      int t = lo + lane, a = lane / 4, b = 2 * (lane % 4);
      for (int k = 0; k < in.matrices; ++k) {
        uint32_t low = in.transpose ? m[k][b][a] : m[k][a][b];
        uint32_t high = in.transpose ? m[k][b + 1][a] : m[k][a][b + 1];
        set(d.regs[k], t, low | (high << 16));
      }
      ++pc_[t];
    }
  }

  static bool compare(Cmp c, uint64_t a, uint64_t b, Type t) {
    if (t.isFloat()) {
      double x = readFloat(a, t), y = readFloat(b, t);
      bool u = std::isnan(x) || std::isnan(y);
      switch (c) {
      case Cmp::Eq: return !u && x == y;
      case Cmp::Ne: return !u && x != y;
      case Cmp::Lt: return !u && x < y;
      case Cmp::Le: return !u && x <= y;
      case Cmp::Gt: return !u && x > y;
      case Cmp::Ge: return !u && x >= y;
      case Cmp::Equ: return u || x == y;
      case Cmp::Neu: return u || x != y;
      case Cmp::Ltu: return u || x < y;
      case Cmp::Leu: return u || x <= y;
      case Cmp::Gtu: return u || x > y;
      case Cmp::Geu: return u || x >= y;
      case Cmp::Num: return !u;
      case Cmp::Nan: return u;
      default: return false;
      }
    }
    if (t.isSigned())
      return compareIntegers(c, signExtend(a, t.bits), signExtend(b, t.bits));
    return compareIntegers(c, a & maskBits(t.bits), b & maskBits(t.bits));
  }

  template <typename T> static bool compareIntegers(Cmp c, T x, T y) {
    switch (c) {
    case Cmp::Eq: return x == y;
    case Cmp::Ne: return x != y;
    case Cmp::Lt: return x < y;
    case Cmp::Le: return x <= y;
    case Cmp::Gt: return x > y;
    case Cmp::Ge: return x >= y;
    default: return false;
    }
  }

  /// f32, f64 and bf16 arithmetic: f32 in float (one rounding), bf16 in
  /// float rounded once to bf16, f64 in double.
  template <typename F32, typename F64>
  uint64_t floatOp(const Instr &in, Type t, F32 f32, F64 f64) {
    (void)in;
    if (t.bits == 64)
      return fromF64(f64());
    float r = f32();
    if (in.sat)
      r = std::isnan(r) ? 0.0f : std::min(1.0f, std::max(0.0f, r));
    return t.bf16 ? f32ToBf16(r) : fromF32(r);
  }

  float f(const Instr &in, size_t i, int t) {
    Type ty = in.type;
    uint64_t v = operand(in, i, t);
    return ty.bf16 ? bf16ToF32(v) : asF32(v);
  }
  double d(const Instr &in, size_t i, int t) {
    return asF64(operand(in, i, t));
  }

  uint64_t cvt(const Instr &in, uint64_t a) {
    Type to = in.type, from = in.type2;
    if (!to.isFloat() && !from.isFloat()) {
      if (to.kind == Kind::Pred || from.kind == Kind::Pred)
        fail(&in, "cvt of predicates");
      if (in.sat) {
        // Clamp into the destination's range.
        __int128 v = from.isSigned() ? (__int128)signExtend(a, from.bits)
                                     : (__int128)(a & maskBits(from.bits));
        __int128 lo = to.isSigned() ? -((__int128)1 << (to.bits - 1)) : 0;
        __int128 hi = to.isSigned() ? ((__int128)1 << (to.bits - 1)) - 1
                                    : ((__int128)1 << to.bits) - 1;
        v = std::max(lo, std::min(hi, v));
        return static_cast<uint64_t>(v) & maskBits(to.bits);
      }
      uint64_t v = from.isSigned()
                       ? static_cast<uint64_t>(signExtend(a, from.bits))
                       : a & maskBits(from.bits);
      if (to.isSigned())
        return static_cast<uint64_t>(signExtend(v, to.bits));
      return v & maskBits(to.bits);
    }
    if (!from.isFloat()) {
      if (in.round != Round::None && in.round != Round::Rn)
        fail(&in, "integer to float conversion with a directed rounding");
      if (from.isSigned()) {
        int64_t v = signExtend(a, from.bits);
        if (to.bits == 64)
          return fromF64(static_cast<double>(v));
        float r = static_cast<float>(v);
        return to.bf16 ? f32ToBf16(r) : fromF32(r);
      }
      uint64_t v = a & maskBits(from.bits);
      if (to.bits == 64)
        return fromF64(static_cast<double>(v));
      float r = static_cast<float>(v);
      return to.bf16 ? f32ToBf16(r) : fromF32(r);
    }
    double x = readFloat(a, from);
    auto roundToInteger = [&](double v) {
      switch (in.round) {
      case Round::Rni: return std::nearbyint(v);
      case Round::Rmi: return std::floor(v);
      case Round::Rpi: return std::ceil(v);
      default: return std::trunc(v);
      }
    };
    if (!to.isFloat()) {
      if (std::isnan(x))
        return 0;
      x = roundToInteger(x);
      if (to.isSigned()) {
        double lo = -std::ldexp(1.0, to.bits - 1);
        double hi = std::ldexp(1.0, to.bits - 1);
        int64_t v = x < lo    ? static_cast<int64_t>(lo)
                    : x >= hi ? static_cast<int64_t>(
                                    (uint64_t(1) << (to.bits - 1)) - 1)
                              : static_cast<int64_t>(x);
        return static_cast<uint64_t>(v) & maskBits(to.bits);
      }
      double hi = std::ldexp(1.0, to.bits);
      uint64_t v = x <= 0 ? 0 : x >= hi ? maskBits(to.bits)
                                        : static_cast<uint64_t>(x);
      return v;
    }
    if (in.round == Round::Rni || in.round == Round::Rzi ||
        in.round == Round::Rmi || in.round == Round::Rpi)
      x = roundToInteger(x);
    else if (in.round == Round::Rz || in.round == Round::Rm ||
             in.round == Round::Rp)
      fail(&in, "float conversion with a directed rounding");
    if (in.sat)
      x = std::isnan(x) ? 0.0 : std::min(1.0, std::max(0.0, x));
    if (to.bf16 && from.bits == 64)
      fail(&in, "f64 to bf16 conversion");
    return writeFloat(x, to);
  }

  uint64_t vectorElement(const Operand &o, size_t i, int t) {
    return o.regs[i] >= 0 ? reg(o.regs[i], t)
                          : o.regs[i] == -2 ? o.vecImms[i] : 0;
  }

  void load(const Instr &in, int t) {
    uint64_t bytes = in.type.bits / 8;
    const Operand &d = in.ops[0];
    std::vector<int> single{d.reg};
    const std::vector<int> &regs = d.kind == OperandKind::Vec ? d.regs
                                                              : single;
    if (d.kind != OperandKind::Vec && d.kind != OperandKind::Reg)
      fail(&in, "load into something that is not a register");
    for (size_t i = 0; i < regs.size(); ++i) {
      unsigned char *p = address(in, in.ops.at(1), t, i * bytes, bytes);
      sharedAccess(in, p, bytes, t, /*write=*/false);
      uint64_t v = 0;
      std::memcpy(&v, p, bytes);
      if (in.type.isSigned())
        v = static_cast<uint64_t>(signExtend(v, in.type.bits));
      set(regs[i], t, v);
    }
  }

  void store(const Instr &in, int t) {
    uint64_t bytes = in.type.bits / 8;
    const Operand &s = in.ops.at(1);
    size_t count = s.kind == OperandKind::Vec ? s.regs.size() : 1;
    for (size_t i = 0; i < count; ++i) {
      uint64_t v = s.kind == OperandKind::Vec ? vectorElement(s, i, t)
                                              : value(in, s, t);
      unsigned char *p = address(in, in.ops[0], t, i * bytes, bytes);
      sharedAccess(in, p, bytes, t, /*write=*/true);
      std::memcpy(p, &v, bytes);
    }
  }

  void move(const Instr &in, int t) {
    const Operand &d = in.ops.at(0), &s = in.ops.at(1);
    if (d.kind == OperandKind::Vec) { // unpack
      uint64_t v = value(in, s, t);
      int part = in.type.bits / static_cast<int>(d.regs.size());
      for (size_t i = 0; i < d.regs.size(); ++i)
        set(d.regs[i], t, (v >> (part * i)) & maskBits(part));
      return;
    }
    if (s.kind == OperandKind::Vec) { // pack
      int part = in.type.bits / static_cast<int>(s.regs.size());
      uint64_t v = 0;
      for (size_t i = 0; i < s.regs.size(); ++i)
        v |= (vectorElement(s, i, t) & maskBits(part)) << (part * i);
      set(dest(in), t, v);
      return;
    }
    set(dest(in), t, value(in, s, t));
  }

  void asyncCopy(const Instr &in, int t) {
    uint64_t bytes = operand(in, 2, t);
    uint64_t srcBytes = in.ops.size() > 3 ? operand(in, 3, t) & 0xFFFFFFFF
                                          : bytes;
    if ((bytes != 4 && bytes != 8 && bytes != 16) || srcBytes > bytes)
      fail(&in, "cp.async of %llu bytes (%llu from the source)",
           static_cast<unsigned long long>(bytes),
           static_cast<unsigned long long>(srcBytes));
    Instr shared = in; // the destination is shared memory
    shared.space = Space::Shared;
    unsigned char *dst = address(shared, in.ops[0], t, 0, bytes);
    if ((dst - shared_.data()) % bytes)
      fail(&in, "cp.async destination not aligned to %llu bytes",
           static_cast<unsigned long long>(bytes));
    const Operand &from = in.ops.at(1);
    uint64_t a = static_cast<uint64_t>(from.offset) +
                 (from.base >= 0 ? reg(from.base, t) : 0);
    const unsigned char *src =
        srcBytes ? hostAddress(in, a, srcBytes, t)
                 : reinterpret_cast<const unsigned char *>(a);
    // The bytes may land any time from now: conflicting accesses by other
    // warps before the next barrier are races already.
    sharedAccess(in, dst, bytes, t, /*write=*/true);
    issued_[t].push_back({dst, src, static_cast<uint32_t>(bytes),
                          static_cast<uint32_t>(srcBytes), &in});
  }

  void land(std::vector<AsyncCopy> &group, int t) {
    for (const AsyncCopy &c : group) {
      sharedAccess(*c.in, c.dst, c.bytes, t, /*write=*/true);
      std::memcpy(c.dst, c.src, c.srcBytes);
      std::memset(c.dst + c.srcBytes, 0, c.bytes - c.srcBytes);
    }
    group.clear();
  }

  /// add, sub, mul, fma, min, max, neg, abs on .bf16x2: each 16-bit half on
  /// its own, computed exactly (or in double) and rounded once to bf16.
  uint64_t pairBf16(const Instr &in, int t) {
    uint64_t r = 0;
    for (int h = 0; h < 2; ++h) {
      auto bits = [&](size_t i) { return (operand(in, i, t) >> (16 * h)) & 0xFFFF; };
      auto x = [&](size_t i) { return static_cast<double>(bf16ToF32(bits(i))); };
      uint64_t half;
      switch (in.op) {
      case Op::Fma: half = f32ToBf16(static_cast<float>(x(1) * x(2) + x(3))); break;
      case Op::Add: half = f32ToBf16(static_cast<float>(x(1) + x(2))); break;
      case Op::Sub: half = f32ToBf16(static_cast<float>(x(1) - x(2))); break;
      case Op::Mul: half = f32ToBf16(static_cast<float>(x(1) * x(2))); break;
      case Op::Neg: half = bits(1) ^ 0x8000; break;
      case Op::Abs: half = bits(1) & 0x7FFF; break;
      case Op::Min:
      case Op::Max: {
        double a = x(1), b = x(2);
        if (std::isnan(a) || std::isnan(b))
          half = (in.nanMax || (std::isnan(a) && std::isnan(b)))
                     ? 0x7FFF
                     : (std::isnan(a) ? bits(2) : bits(1));
        else
          half = ((in.op == Op::Max) == (a > b || (a == b && !std::signbit(a))))
                     ? bits(1)
                     : bits(2);
        break;
      }
      default: fail(&in, "this bf16x2 instruction");
      }
      r |= half << (16 * h);
    }
    return r;
  }

  void execute(const Instr &in, int t) {
    const Type ty = in.type;
    if (in.pairBf16 && in.op != Op::Cvt)
      return set(dest(in), t, pairBf16(in, t));
    const int bits = ty.bits;
    const uint64_t m = maskBits(bits);
    switch (in.op) {
    case Op::Mov:
      return move(in, t);
    case Op::Ld:
      return load(in, t);
    case Op::St:
      return store(in, t);
    case Op::Nop:
      return;
    case Op::CpAsync:
      return asyncCopy(in, t);
    case Op::CpCommit:
      committed_[t].push_back(std::move(issued_[t]));
      issued_[t].clear();
      return;
    case Op::CpWait: {
      if (in.ops.empty()) { // wait_all: commit, then wait for everything
        committed_[t].push_back(std::move(issued_[t]));
        issued_[t].clear();
      }
      uint64_t keep = in.ops.empty() ? 0 : operand(in, 0, t);
      while (committed_[t].size() > keep) {
        land(committed_[t].front(), t);
        committed_[t].pop_front();
      }
      return;
    }
    case Op::Cvta: {
      uint64_t a = operand(in, 1, t), base = 0;
      switch (in.space) {
      case Space::Shared: base = reinterpret_cast<uintptr_t>(shared_.data());
        break;
      case Space::Local:
        base = reinterpret_cast<uintptr_t>(localOf(t));
        break;
      case Space::Param: base = reinterpret_cast<uintptr_t>(param_.data());
        break;
      default: break;
      }
      return set(dest(in), t, (in.toSpace ? a - base : a + base) & m);
    }
    case Op::Add:
    case Op::Sub: {
      bool add = in.op == Op::Add;
      if (ty.isFloat())
        return set(dest(in), t,
                   floatOp(in, ty,
                           [&] { return add ? f(in, 1, t) + f(in, 2, t)
                                            : f(in, 1, t) - f(in, 2, t); },
                           [&] { return add ? d(in, 1, t) + d(in, 2, t)
                                            : d(in, 1, t) - d(in, 2, t); }));
      unsigned __int128 a = operand(in, 1, t) & m, b = operand(in, 2, t) & m;
      unsigned __int128 cin = in.carryIn ? carry_[t] : 0;
      unsigned __int128 r = add ? a + b + cin : a - b - cin;
      if (in.sat && ty.isSigned()) {
        __int128 x = signExtend(static_cast<uint64_t>(a), bits),
                 y = signExtend(static_cast<uint64_t>(b), bits);
        __int128 s = add ? x + y : x - y;
        __int128 lo = -((__int128)1 << (bits - 1)),
                 hi = ((__int128)1 << (bits - 1)) - 1;
        r = static_cast<unsigned __int128>(std::max(lo, std::min(hi, s)));
      }
      if (in.carryOut)
        carry_[t] = add ? static_cast<uint8_t>((r >> bits) & 1)
                        : static_cast<uint8_t>(a < b + cin);
      return set(dest(in), t, static_cast<uint64_t>(r) & m);
    }
    case Op::Mul:
    case Op::Mad: {
      bool mad = in.op == Op::Mad;
      if (ty.isFloat())
        return set(dest(in), t,
                   floatOp(in, ty,
                           [&] { return mad ? std::fma(f(in, 1, t), f(in, 2, t),
                                                       f(in, 3, t))
                                            : f(in, 1, t) * f(in, 2, t); },
                           [&] { return mad ? std::fma(d(in, 1, t), d(in, 2, t),
                                                       d(in, 3, t))
                                            : d(in, 1, t) * d(in, 2, t); }));
      uint64_t a = operand(in, 1, t), b = operand(in, 2, t);
      __int128 product;
      if (ty.isSigned())
        product = (__int128)signExtend(a, bits) * signExtend(b, bits);
      else
        product = (__int128)((unsigned __int128)(a & m) * (b & m));
      unsigned __int128 r;
      int outBits = bits;
      switch (in.half) {
      case Half::Hi: r = (unsigned __int128)(product >> bits); break;
      case Half::Wide:
        if (bits > 32)
          fail(&in, "a 128-bit wide multiply");
        r = (unsigned __int128)product;
        outBits = 2 * bits;
        break;
      default: r = (unsigned __int128)product; break;
      }
      r &= maskBits(outBits);
      if (mad) {
        uint64_t c = operand(in, 3, t) & maskBits(outBits);
        unsigned __int128 cin = in.carryIn ? carry_[t] : 0;
        r = r + c + cin;
        if (in.carryOut)
          carry_[t] = static_cast<uint8_t>((r >> outBits) & 1);
      }
      return set(dest(in), t, static_cast<uint64_t>(r) & maskBits(outBits));
    }
    case Op::Fma:
      if (!ty.isFloat())
        fail(&in, "fma of integers");
      return set(dest(in), t,
                 floatOp(in, ty,
                         [&] {
                           if (ty.bf16) // exact product; one rounding
                             return static_cast<float>(
                                 static_cast<double>(f(in, 1, t)) *
                                     f(in, 2, t) +
                                 f(in, 3, t));
                           return std::fma(f(in, 1, t), f(in, 2, t),
                                           f(in, 3, t));
                         },
                         [&] {
                           return std::fma(d(in, 1, t), d(in, 2, t),
                                           d(in, 3, t));
                         }));
    case Op::Div:
    case Op::Rem: {
      bool div = in.op == Op::Div;
      if (ty.isFloat()) {
        if (!div)
          fail(&in, "rem of floats");
        return set(dest(in), t,
                   floatOp(in, ty, [&] { return f(in, 1, t) / f(in, 2, t); },
                           [&] { return d(in, 1, t) / d(in, 2, t); }));
      }
      uint64_t a = operand(in, 1, t), b = operand(in, 2, t);
      uint64_t r;
      if (ty.isSigned()) {
        int64_t x = signExtend(a, bits), y = signExtend(b, bits);
        if (y == 0)
          r = div ? ~uint64_t(0) : static_cast<uint64_t>(x);
        else if (y == -1)
          r = div ? static_cast<uint64_t>(0) - static_cast<uint64_t>(x) : 0;
        else
          r = static_cast<uint64_t>(div ? x / y : x % y);
      } else {
        uint64_t x = a & m, y = b & m;
        r = y == 0 ? (div ? ~uint64_t(0) : x) : div ? x / y : x % y;
      }
      return set(dest(in), t, r & m);
    }
    case Op::Neg:
    case Op::Abs: {
      uint64_t a = operand(in, 1, t);
      if (ty.isFloat()) {
        uint64_t sign = uint64_t(1) << (bits - 1);
        return set(dest(in), t, in.op == Op::Neg ? a ^ sign : a & ~sign);
      }
      int64_t x = signExtend(a, bits);
      return set(dest(in), t,
                 static_cast<uint64_t>(in.op == Op::Neg ? -x
                                                        : (x < 0 ? -x : x)) &
                     m);
    }
    case Op::Min:
    case Op::Max: {
      bool max = in.op == Op::Max;
      uint64_t a = operand(in, 1, t), b = operand(in, 2, t);
      if (ty.isFloat()) {
        double x = readFloat(a, ty), y = readFloat(b, ty);
        if (std::isnan(x) || std::isnan(y)) {
          if (in.nanMax || (std::isnan(x) && std::isnan(y)))
            return set(dest(in), t,
                       bits == 64 ? 0x7FF8000000000000ull
                       : ty.bf16  ? 0x7FFF
                                  : 0x7FFFFFFF);
          return set(dest(in), t, std::isnan(x) ? b : a);
        }
        bool pickA = max ? (x > y || (x == y && !std::signbit(x)))
                         : (x < y || (x == y && std::signbit(x)));
        return set(dest(in), t, pickA ? a : b);
      }
      bool aWins;
      if (ty.isSigned())
        aWins = max ? signExtend(a, bits) >= signExtend(b, bits)
                    : signExtend(a, bits) <= signExtend(b, bits);
      else
        aWins = max ? (a & m) >= (b & m) : (a & m) <= (b & m);
      return set(dest(in), t, aWins ? a : b);
    }
    case Op::And:
      return set(dest(in), t, operand(in, 1, t) & operand(in, 2, t));
    case Op::Or:
      return set(dest(in), t, operand(in, 1, t) | operand(in, 2, t));
    case Op::Xor:
      return set(dest(in), t, operand(in, 1, t) ^ operand(in, 2, t));
    case Op::Not:
      return set(dest(in), t, ~operand(in, 1, t));
    case Op::Cnot:
      return set(dest(in), t, (operand(in, 1, t) & m) == 0);
    case Op::Shl:
    case Op::Shr: {
      uint64_t a = operand(in, 1, t);
      uint64_t n = operand(in, 2, t) & 0xFFFFFFFF;
      if (in.op == Op::Shl)
        return set(dest(in), t, n >= static_cast<uint64_t>(bits) ? 0 : (a << n) & m);
      if (ty.isSigned()) {
        int64_t x = signExtend(a, bits);
        return set(dest(in), t,
                   static_cast<uint64_t>(x >> std::min<uint64_t>(n, 63)) & m);
      }
      return set(dest(in), t,
                 n >= static_cast<uint64_t>(bits) ? 0 : (a & m) >> n);
    }
    case Op::Shf: {
      if (bits != 32)
        fail(&in, "shf of %d bits", bits);
      uint64_t a = operand(in, 1, t) & 0xFFFFFFFF,
               b = operand(in, 2, t) & 0xFFFFFFFF;
      uint64_t n = operand(in, 3, t) & 0xFFFFFFFF;
      n = in.wrap ? n & 31 : std::min<uint64_t>(n, 32);
      uint64_t both = (b << 32) | a;
      uint64_t r = in.left ? ((both << n) >> 32) : (both >> n);
      return set(dest(in), t, r & 0xFFFFFFFF);
    }
    case Op::Bfe: {
      uint64_t a = operand(in, 1, t);
      int pos = static_cast<int>(operand(in, 2, t) & 0xFF);
      int len = static_cast<int>(operand(in, 3, t) & 0xFF);
      int msb = bits - 1;
      uint64_t sbit = 0;
      if (ty.isSigned() && len > 0)
        sbit = (a >> std::min(pos + len - 1, msb)) & 1;
      uint64_t r = 0;
      for (int i = 0; i <= msb; ++i) {
        uint64_t bit = (i < len && pos + i <= msb) ? (a >> (pos + i)) & 1
                                                   : sbit;
        r |= bit << i;
      }
      return set(dest(in), t, r);
    }
    case Op::Bfi: {
      uint64_t a = operand(in, 1, t), b = operand(in, 2, t);
      int pos = static_cast<int>(operand(in, 3, t) & 0xFF);
      int len = static_cast<int>(operand(in, 4, t) & 0xFF);
      uint64_t r = b;
      for (int i = 0; i < len && pos + i < bits; ++i) {
        r &= ~(uint64_t(1) << (pos + i));
        r |= ((a >> i) & 1) << (pos + i);
      }
      return set(dest(in), t, r & m);
    }
    case Op::Selp:
      return set(dest(in), t,
                 (operand(in, 3, t) & 1) ? operand(in, 1, t)
                                         : operand(in, 2, t));
    case Op::Setp: {
      bool r = compare(in.cmp, operand(in, 1, t), operand(in, 2, t), ty);
      bool q = !r;
      if (in.boolOp != BoolOp::None) {
        bool c = operand(in, 3, t) & 1;
        auto combine = [&](bool x) {
          return in.boolOp == BoolOp::And  ? x && c
                 : in.boolOp == BoolOp::Or ? x || c
                                           : x != c;
        };
        r = combine(r);
        q = combine(q);
      }
      set(dest(in), t, r);
      if (in.ops[0].reg2 >= 0)
        set(in.ops[0].reg2, t, q);
      return;
    }
    case Op::Cvt:
      if (in.pairBf16) { // d = {bf16(a) high, bf16(b) low}
        if (in.type2.bits != 32 || !in.type2.isFloat() || in.round != Round::Rn)
          fail(&in, "cvt to bf16x2 is supported from f32 with .rn");
        return set(dest(in), t,
                   (f32ToBf16(asF32(operand(in, 1, t))) << 16) |
                       f32ToBf16(asF32(operand(in, 2, t))));
      }
      return set(dest(in), t, cvt(in, operand(in, 1, t)));
    case Op::Rcp:
    case Op::Sqrt:
    case Op::Rsqrt:
    case Op::Ex2:
    case Op::Lg2:
    case Op::Sin:
    case Op::Cos:
    case Op::Tanh: {
      if (!ty.isFloat() || ty.bf16)
        fail(&in, "a math function of this type");
      auto fn = [&](double x) -> double {
        switch (in.op) {
        case Op::Rcp: return 1.0 / x;
        case Op::Sqrt: return std::sqrt(x);
        case Op::Rsqrt: return 1.0 / std::sqrt(x);
        case Op::Ex2: return std::exp2(x);
        case Op::Lg2: return std::log2(x);
        case Op::Sin: return std::sin(x);
        case Op::Cos: return std::cos(x);
        default: return std::tanh(x);
        }
      };
      if (bits == 64)
        return set(dest(in), t, fromF64(fn(d(in, 1, t))));
      return set(dest(in), t,
                 fromF32(static_cast<float>(fn(f(in, 1, t)))));
    }
    case Op::Popc:
      return set(dest(in), t, __builtin_popcountll(operand(in, 1, t) & m));
    case Op::Clz: {
      uint64_t a = operand(in, 1, t) & m;
      return set(dest(in), t,
                 a == 0 ? bits : __builtin_clzll(a) - (64 - bits));
    }
    case Op::Brev: {
      uint64_t a = operand(in, 1, t), r = 0;
      for (int i = 0; i < bits; ++i)
        r |= ((a >> i) & 1) << (bits - 1 - i);
      return set(dest(in), t, r);
    }
    case Op::Prmt: {
      uint64_t both = (operand(in, 1, t) & 0xFFFFFFFF) |
                      ((operand(in, 2, t) & 0xFFFFFFFF) << 32);
      uint64_t c = operand(in, 3, t), r = 0;
      for (int i = 0; i < 4; ++i) {
        uint64_t sel = (c >> (4 * i)) & 0xF;
        uint64_t byte = (both >> (8 * (sel & 7))) & 0xFF;
        if (sel & 8)
          byte = (byte & 0x80) ? 0xFF : 0;
        r |= byte << (8 * i);
      }
      return set(dest(in), t, r);
    }
    case Op::Copysign: {
      uint64_t sign = uint64_t(1) << (bits - 1);
      uint64_t a = operand(in, 1, t), b = operand(in, 2, t);
      return set(dest(in), t, (b & ~sign) | (a & sign));
    }
    default:
      fail(&in, "instruction not executable here");
    }
  }

  const Kernel &k_;
  DeviceRangeFn range_;
  unsigned grid_[3], block_[3], ctaid_[3] = {0, 0, 0};
  int n_;
  std::vector<unsigned char> param_, shared_, local_;
  uint64_t dynamicBase_;
  std::vector<uint64_t> regs_;
  std::vector<int> pc_;
  std::vector<uint8_t> state_, carry_;
  /// cp.async: copies issued and not yet committed, and committed groups
  /// not yet waited for, per thread. A copy lands at the wait that covers
  /// it (a GPU may land it any time before), so reading early reads stale
  /// bytes here too.
  std::vector<std::vector<AsyncCopy>> issued_;
  std::vector<std::deque<std::vector<AsyncCopy>>> committed_;
  std::vector<int32_t> writeEpoch_, readEpoch_;
  std::vector<int16_t> writeWarp_, readWarp_;
  int32_t epoch_ = 1;
  uintptr_t cacheBegin_ = 1, cacheEnd_ = 0;
  unsigned long long steps_ = 0, maxSteps_;
};

} // namespace

void launch(const Kernel &kernel, void **params, const unsigned grid[3],
            const unsigned block[3], unsigned dynamicSharedBytes,
            DeviceRangeFn deviceRange) {
  Launch l(kernel, params, grid, block, dynamicSharedBytes, deviceRange);
  l.run();
}

} // namespace ptxi
