//===- ptx_ir.h - the PTX interpreter's decoded kernels ---------*- C++ -*-===//
//
// What ptx_parser.cc makes of PTX text and ptx_executor.cc runs: each
// `.entry` as a list of decoded instructions, registers numbered, labels
// resolved to instruction indices, symbols given their state space and
// offset. Internal to the fake driver's interpreter (ptx_interpreter.h).
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_TESTS_FAKE_CUDA_PTX_IR_H
#define PALMRT_TESTS_FAKE_CUDA_PTX_IR_H

#include "ptx_interpreter.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ptxi {

enum class Kind { Bits, Unsigned, Signed, Float, Pred };

struct Type {
  Kind kind = Kind::Bits;
  int bits = 0; // 0: none given
  bool bf16 = false;
  bool valid() const { return bits != 0; }
  bool isFloat() const { return kind == Kind::Float; }
  bool isSigned() const { return kind == Kind::Signed; }
};

enum class Space { Generic, Global, Shared, Local, Param, Const };

enum class Op {
  Mov, Ld, St, Cvta, Add, Sub, Mul, Mad, Div, Rem, Neg, Abs, Min, Max, And,
  Or, Xor, Not, Cnot, Shl, Shr, Shf, Bfe, Bfi, Selp, Setp, Cvt, Fma, Rcp,
  Sqrt, Rsqrt, Ex2, Lg2, Sin, Cos, Tanh, Shfl, Bar, Nop, Ret, Bra, Popc, Clz,
  Brev, Prmt, Copysign, Mma, Ldmatrix, CpAsync, CpCommit, CpWait
};

enum class Cmp { None, Eq, Ne, Lt, Le, Gt, Ge, Equ, Neu, Ltu, Leu, Gtu, Geu,
                 Num, Nan };
enum class Round { None, Rn, Rz, Rm, Rp, Rni, Rzi, Rmi, Rpi };
enum class Half { None, Lo, Hi, Wide };
enum class Shuffle { None, Up, Down, Bfly, Idx };
enum class BoolOp { None, And, Or, Xor };

enum class OperandKind { None, Reg, Imm, Special, Addr, Vec, Label, Symbol,
                         Sink };

enum Special { TidX, TidY, TidZ, NtidX, NtidY, NtidZ, CtaidX, CtaidY, CtaidZ,
               NctaidX, NctaidY, NctaidZ, LaneId, WarpId };

struct Symbol {
  Space space;
  uint64_t offset; // in its space's buffer; for Global: a host address
  uint64_t bytes;
};

struct Operand {
  OperandKind kind = OperandKind::None;
  int reg = -1, reg2 = -1; // reg2: the `|q` of setp and shfl
  bool negate = false;     // `!%p`
  uint64_t imm = 0;        // Imm bits; Special id; Label target; Symbol id
  int base = -1;           // Addr: register, or -1
  int symbol = -1;         // Addr: symbol, or -1
  int64_t offset = 0;      // Addr
  std::vector<int> regs;   // Vec (-1: sink, -2: the immediate in vecImms)
  std::vector<uint64_t> vecImms;
};

struct Instr {
  Op op;
  int line = 0;
  int guard = -1;
  bool guardNegate = false;
  Type type, type2; // cvt: destination, source
  Space space = Space::Generic;
  bool toSpace = false; // cvta.to
  bool carryIn = false, carryOut = false;
  bool ftz = false, sat = false, nanMax = false, wrap = false,
       left = false;
  bool pairBf16 = false; // .bf16x2: cvt.rn.bf16x2.f32, or a packed op
  bool transpose = false; // ldmatrix.trans
  int matrices = 0;       // ldmatrix.x1/.x2/.x4
  Cmp cmp = Cmp::None;
  BoolOp boolOp = BoolOp::None;
  Round round = Round::None;
  Half half = Half::None;
  Shuffle shuffle = Shuffle::None;
  std::vector<Operand> ops;
};

struct Kernel {
  std::string name;
  std::vector<Instr> code;
  std::vector<int> regBits;
  std::vector<std::string> lines; // PTX text by line, for messages
  std::vector<Symbol> symbols;
  std::vector<std::pair<uint64_t, uint64_t>> params; // offset, bytes
  uint64_t paramBytes = 0, localBytes = 0, staticShared = 0;
  const Module *module = nullptr;
};

struct Module {
  std::vector<std::unique_ptr<Kernel>> kernels;
  // Module-level .global variables: host storage the kernels address.
  std::vector<std::unique_ptr<std::vector<unsigned char>>> globals;
  std::vector<std::string> lines;
};

} // namespace ptxi

#endif // PALMRT_TESTS_FAKE_CUDA_PTX_IR_H
