//===- ptx_parser.cc - PTX text to the interpreter's kernels --------------===//
//
// A lexer and a recursive parser for the PTX that palm's kernels compile to
// (ptx_ir.h): module variables, entries, parameters, registers, labels and
// instructions with their modifiers. Anything else is a ParseError with
// the line.
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

bool parseType(const std::string &s, Type *t) {
  static const std::map<std::string, Type> types = {
      {"b8", {Kind::Bits, 8}},         {"b16", {Kind::Bits, 16}},
      {"b32", {Kind::Bits, 32}},       {"b64", {Kind::Bits, 64}},
      {"u8", {Kind::Unsigned, 8}},     {"u16", {Kind::Unsigned, 16}},
      {"u32", {Kind::Unsigned, 32}},   {"u64", {Kind::Unsigned, 64}},
      {"s8", {Kind::Signed, 8}},       {"s16", {Kind::Signed, 16}},
      {"s32", {Kind::Signed, 32}},     {"s64", {Kind::Signed, 64}},
      {"f32", {Kind::Float, 32}},      {"f64", {Kind::Float, 64}},
      {"bf16", {Kind::Float, 16, true}}, {"pred", {Kind::Pred, 1}}};
  auto it = types.find(s);
  if (it == types.end())
    return false;
  *t = it->second;
  return true;
}

//===----------------------------------------------------------------------===//
// Lexer
//===----------------------------------------------------------------------===//

struct Token {
  std::string text;
  int line;
  bool word; // identifier, number, register or directive; else punctuation
};

bool isWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         c == '.' || c == '%' || c == '$' || c == ':' ;
}

/// Splits PTX into tokens. `::` inside words (cache hints like
/// L1::no_allocate) stays in the word; a label's trailing ':' is its own
/// token.
std::vector<Token> lex(const std::string &text) {
  std::vector<Token> tokens;
  int line = 1;
  size_t i = 0, n = text.size();
  while (i < n) {
    char c = text[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '/' && i + 1 < n && text[i + 1] == '/') {
      while (i < n && text[i] != '\n')
        ++i;
    } else if (c == '/' && i + 1 < n && text[i + 1] == '*') {
      i += 2;
      while (i + 1 < n && !(text[i] == '*' && text[i + 1] == '/')) {
        if (text[i] == '\n')
          ++line;
        ++i;
      }
      i += 2;
    } else if (c == '"') {
      size_t j = i + 1;
      while (j < n && text[j] != '"')
        ++j;
      tokens.push_back({text.substr(i, j + 1 - i), line, true});
      i = j + 1;
    } else if (isWordChar(c) && c != ':') {
      size_t j = i;
      while (j < n && isWordChar(text[j])) {
        if (text[j] == ':' && !(j + 1 < n && text[j + 1] == ':') &&
            !(j > i && text[j - 1] == ':'))
          break;
        ++j;
      }
      tokens.push_back({text.substr(i, j - i), line, true});
      i = j;
    } else {
      tokens.push_back({std::string(1, c), line, false});
      ++i;
    }
  }
  return tokens;
}

//===----------------------------------------------------------------------===//
// Parser
//===----------------------------------------------------------------------===//

struct ParseError {
  std::string message;
};

[[noreturn]] void parseFail(int line, const char *format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof(buffer), format, args);
  va_end(args);
  throw ParseError{"PTX line " + std::to_string(line) + ": " + buffer};
}

bool parseInteger(const std::string &s, uint64_t *value) {
  if (s.empty())
    return false;
  char *end = nullptr;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'f' || s[1] == 'F' ||
                                      s[1] == 'd' || s[1] == 'D')) {
    *value = std::strtoull(s.c_str() + 2, &end, 16);
    return *end == '\0';
  }
  if (!std::isdigit(static_cast<unsigned char>(s[0])))
    return false;
  *value = std::strtoull(s.c_str(), &end, 0);
  return *end == '\0' || ((*end == 'U' || *end == 'u') && end[1] == '\0');
}

class Parser {
public:
  Parser(const std::string &text) : tokens_(lex(text)) {}

  std::shared_ptr<Module> parse(const std::string &text) {
    auto module = std::make_shared<Module>();
    module_ = module.get();
    {
      size_t start = 0;
      while (start <= text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos)
          end = text.size();
        module->lines.push_back(text.substr(start, end - start));
        start = end + 1;
      }
    }
    while (!atEnd()) {
      const Token &t = peek();
      if (t.text == ".version" || t.text == ".target" ||
          t.text == ".address_size") {
        int line = t.line;
        while (!atEnd() && peek().line == line)
          next();
      } else if (t.text == ".visible" || t.text == ".weak" ||
                 t.text == ".extern") {
        next();
      } else if (t.text == ".entry") {
        next();
        parseEntry();
      } else if (t.text == ".func") {
        parseFail(t.line, "device functions (.func) are not supported");
      } else if (t.text == ".global" || t.text == ".shared" ||
                 t.text == ".const") {
        parseVariable(nullptr);
      } else if (t.text == ".file" || t.text == ".section") {
        parseFail(t.line, "debug information is not supported");
      } else {
        parseFail(t.line, "unexpected '%s' at module level", t.text.c_str());
      }
    }
    return module;
  }

private:
  bool atEnd() const { return pos_ >= tokens_.size(); }
  const Token &peek() const {
    if (atEnd())
      parseFail(tokens_.empty() ? 0 : tokens_.back().line,
                "unexpected end of PTX");
    return tokens_[pos_];
  }
  const Token &next() {
    const Token &t = peek();
    ++pos_;
    return t;
  }
  void expect(const char *text) {
    const Token &t = next();
    if (t.text != text)
      parseFail(t.line, "expected '%s', found '%s'", text, t.text.c_str());
  }
  bool accept(const char *text) {
    if (!atEnd() && peek().text == text) {
      ++pos_;
      return true;
    }
    return false;
  }

  /// The `[.align N] .type [.ptr [.space] [.align N]] name` of a variable or
  /// parameter (a .ptr's space and alignment describe the pointee and are
  /// skipped); returns the name.
  std::string parseDeclarator(const char *what, Type *type, uint64_t *align) {
    while (true) {
      const Token &t = next();
      if (t.text == ".align") {
        if (!parseInteger(next().text, align))
          parseFail(t.line, "bad .align");
      } else if (t.text == ".ptr" || t.text == ".global" ||
                 t.text == ".shared" || t.text == ".local" ||
                 t.text == ".const") {
        if (accept(".align")) {
          uint64_t pointee;
          parseInteger(next().text, &pointee);
        }
      } else if (t.text.size() > 1 && t.text[0] == '.' &&
                 parseType(t.text.substr(1), type)) {
      } else if (t.word && t.text[0] != '.') {
        return t.text;
      } else {
        parseFail(t.line, "unexpected '%s' in %s", t.text.c_str(), what);
      }
    }
  }

  /// `.global/.shared/.const/.local [.align N] .type name[[N]] [= {...}];`
  /// at module level (kernel == null) or inside a kernel.
  void parseVariable(Kernel *kernel) {
    const Token &spaceToken = next();
    int line = spaceToken.line;
    Space space = spaceToken.text == ".global"  ? Space::Global
                  : spaceToken.text == ".shared" ? Space::Shared
                  : spaceToken.text == ".local"  ? Space::Local
                                                 : Space::Const;
    uint64_t align = 1;
    Type type;
    std::string name = parseDeclarator("a variable", &type, &align);
    if (align == 0)
      parseFail(line, "bad .align");
    if (!type.valid() || type.kind == Kind::Pred)
      parseFail(line, "variable %s without a type", name.c_str());
    uint64_t count = 1;
    bool unsized = false;
    if (accept("[")) {
      if (accept("]")) {
        unsized = true;
        count = 0;
      } else {
        if (!parseInteger(next().text, &count))
          parseFail(line, "bad array size");
        expect("]");
      }
    }
    uint64_t element = type.bits / 8;
    std::vector<unsigned char> init(element * count, 0);
    if (accept("=")) {
      std::vector<uint64_t> values;
      bool braces = accept("{");
      do {
        uint64_t v;
        if (!parseInteger(next().text, &v))
          parseFail(line, "only integer initializers are supported");
        values.push_back(v);
      } while (braces && accept(","));
      if (braces)
        expect("}");
      if (values.size() > count)
        parseFail(line, "too many initializers");
      for (size_t i = 0; i < values.size(); ++i)
        std::memcpy(&init[i * element], &values[i], element);
    }
    expect(";");
    Symbol symbol{space, 0, element * count};
    if (space == Space::Global || space == Space::Const) {
      if (kernel)
        parseFail(line, "a %s variable inside a kernel",
                  spaceToken.text.c_str());
      module_->globals.push_back(
          std::make_unique<std::vector<unsigned char>>(std::move(init)));
      auto &storage = *module_->globals.back();
      symbol.offset = reinterpret_cast<uintptr_t>(storage.data());
      moduleSymbols_[name] = symbol;
      return;
    }
    if (space == Space::Shared) {
      if (unsized) {
        symbol.offset = ~uint64_t(0); // the dynamic shared memory
      } else {
        sharedTop_ = (sharedTop_ + align - 1) / align * align;
        symbol.offset = sharedTop_;
        sharedTop_ += symbol.bytes;
      }
      (kernel ? kernelSymbols_ : moduleSymbols_)[name] = symbol;
      return;
    }
    if (!kernel)
      parseFail(line, "a .local variable at module level");
    kernel->localBytes = (kernel->localBytes + align - 1) / align * align;
    symbol.offset = kernel->localBytes;
    kernel->localBytes += symbol.bytes;
    kernelSymbols_[name] = symbol;
  }

  void parseEntry() {
    auto kernel = std::make_unique<Kernel>();
    kernel->module = module_;
    const Token &nameToken = next();
    kernel->name = nameToken.text;
    kernelSymbols_.clear();
    registers_.clear();
    labels_.clear();
    uint64_t moduleShared = sharedTop_;
    expect("(");
    if (!accept(")")) {
      do {
        expect(".param");
        Type type;
        uint64_t align = 0;
        std::string name = parseDeclarator("a parameter", &type, &align);
        uint64_t count = 1;
        if (accept("[")) {
          if (!parseInteger(next().text, &count))
            parseFail(nameToken.line, "bad parameter array size");
          expect("]");
        }
        uint64_t bytes = type.bits / 8 * count;
        if (align == 0)
          align = type.bits / 8;
        kernel->paramBytes = (kernel->paramBytes + align - 1) / align * align;
        kernel->params.push_back({kernel->paramBytes, bytes});
        kernelSymbols_[name] = {Space::Param, kernel->paramBytes, bytes};
        kernel->paramBytes += bytes;
      } while (accept(","));
      expect(")");
    }
    // Performance directives (.maxntid 256, 1, 1 and the like).
    while (peek().text != "{")
      next();
    expect("{");
    std::vector<std::pair<size_t, std::string>> fixups; // instr, label
    int depth = 1;
    while (depth > 0) {
      const Token &t = peek();
      if (t.text == "{") {
        next();
        ++depth;
      } else if (t.text == "}") {
        next();
        --depth;
      } else if (t.text == ".reg") {
        parseRegisters();
      } else if (t.text == ".local" || t.text == ".shared") {
        parseVariable(kernel.get());
      } else if (t.text == ".pragma") {
        while (next().text != ";") {
        }
      } else if (t.text == ".loc" || t.text == ".file") {
        parseFail(t.line, "debug information is not supported");
      } else if (t.word && t.text[0] == '$' && pos_ + 1 < tokens_.size() &&
                 tokens_[pos_ + 1].text == ":") {
        labels_[t.text] = kernel->code.size();
        next();
        next();
      } else if (t.word && pos_ + 1 < tokens_.size() &&
                 tokens_[pos_ + 1].text == ":") {
        labels_[t.text] = kernel->code.size();
        next();
        next();
      } else {
        currentCodeSize_ = kernel->code.size();
        kernel->code.push_back(parseInstruction(&fixups));
      }
    }
    for (auto &[index, label] : fixups) {
      auto it = labels_.find(label);
      if (it == labels_.end())
        parseFail(kernel->code[index].line, "unknown label %s", label.c_str());
      for (Operand &o : kernel->code[index].ops)
        if (o.kind == OperandKind::Label)
          o.imm = it->second;
    }
    Instr end;
    end.op = Op::Ret;
    end.line = nameToken.line;
    kernel->code.push_back(end);
    kernel->regBits = regBits_;
    kernel->symbols = symbols_;
    kernel->staticShared = sharedTop_;
    sharedTop_ = moduleShared;
    regBits_.clear();
    symbols_.clear();
    module_->kernels.push_back(std::move(kernel));
  }

  void parseRegisters() {
    int line = next().line; // .reg
    Type type;
    const Token &t = next();
    if (t.text.size() < 2 || !parseType(t.text.substr(1), &type))
      parseFail(line, "bad register type '%s'", t.text.c_str());
    do {
      std::string name = next().text;
      if (accept("<")) {
        uint64_t count;
        if (!parseInteger(next().text, &count))
          parseFail(line, "bad register count");
        expect(">");
        for (uint64_t i = 0; i < count; ++i)
          addRegister(name + std::to_string(i), type);
      } else {
        addRegister(name, type);
      }
    } while (accept(","));
    expect(";");
  }

  void addRegister(const std::string &name, Type type) {
    auto it = registers_.find(name);
    if (it != registers_.end()) { // an inner scope's register: same slot
      regBits_[it->second] = std::max(regBits_[it->second], type.bits);
      return;
    }
    registers_[name] = regBits_.size();
    regBits_.push_back(type.bits);
  }

  int registerIndex(const Token &t) {
    auto it = registers_.find(t.text);
    if (it == registers_.end())
      parseFail(t.line, "unknown register %s", t.text.c_str());
    return it->second;
  }

  int symbolIndex(const std::string &name, int line) {
    auto it = kernelSymbols_.find(name);
    const Symbol *symbol = nullptr;
    if (it != kernelSymbols_.end()) {
      symbol = &it->second;
    } else {
      auto m = moduleSymbols_.find(name);
      if (m == moduleSymbols_.end())
        return -1;
      symbol = &m->second;
    }
    (void)line;
    symbols_.push_back(*symbol);
    return static_cast<int>(symbols_.size() - 1);
  }

  Operand parseOperand(std::vector<std::pair<size_t, std::string>> *fixups,
                       size_t index, Op op) {
    Operand o;
    const Token &t = next();
    if (t.text == "[") {
      o.kind = OperandKind::Addr;
      const Token &b = next();
      uint64_t value;
      if (b.text[0] == '%') {
        o.base = registerIndex(b);
      } else if (parseInteger(b.text, &value)) {
        o.offset = static_cast<int64_t>(value);
      } else {
        o.symbol = symbolIndex(b.text, b.line);
        if (o.symbol < 0)
          parseFail(b.line, "unknown symbol %s", b.text.c_str());
      }
      while (peek().text == "+" || peek().text == "-") {
        bool minus = next().text == "-";
        if (accept("-"))
          minus = !minus;
        if (!parseInteger(next().text, &value))
          parseFail(t.line, "bad address offset");
        o.offset += minus ? -static_cast<int64_t>(value)
                          : static_cast<int64_t>(value);
      }
      expect("]");
      return o;
    }
    if (t.text == "{") {
      o.kind = OperandKind::Vec;
      do {
        const Token &r = next();
        uint64_t value = 0;
        bool immediate = parseInteger(r.text, &value);
        o.regs.push_back(r.text == "_" ? -1 : immediate ? -2 : registerIndex(r));
        o.vecImms.push_back(value);
      } while (accept(","));
      expect("}");
      return o;
    }
    if (t.text == "!") {
      o = parseOperand(fixups, index, op);
      o.negate = true;
      return o;
    }
    if (t.text == "-") {
      const Token &v = next();
      uint64_t value;
      if (!parseInteger(v.text, &value))
        parseFail(v.line, "bad immediate -%s", v.text.c_str());
      o.kind = OperandKind::Imm;
      o.imm = static_cast<uint64_t>(-static_cast<int64_t>(value));
      return o;
    }
    if (t.text == "_") {
      o.kind = OperandKind::Sink;
      return o;
    }
    static const std::map<std::string, int> specials = {
        {"%tid.x", TidX},       {"%tid.y", TidY},       {"%tid.z", TidZ},
        {"%ntid.x", NtidX},     {"%ntid.y", NtidY},     {"%ntid.z", NtidZ},
        {"%ctaid.x", CtaidX},   {"%ctaid.y", CtaidY},   {"%ctaid.z", CtaidZ},
        {"%nctaid.x", NctaidX}, {"%nctaid.y", NctaidY}, {"%nctaid.z", NctaidZ},
        {"%laneid", LaneId},    {"%warpid", WarpId}};
    if (t.text[0] == '%') {
      auto s = specials.find(t.text);
      if (s != specials.end()) {
        o.kind = OperandKind::Special;
        o.imm = s->second;
        return o;
      }
      o.kind = OperandKind::Reg;
      o.reg = registerIndex(t);
      if (accept("|"))
        o.reg2 = registerIndex(next());
      return o;
    }
    uint64_t value;
    if (parseInteger(t.text, &value)) {
      o.kind = OperandKind::Imm;
      o.imm = value;
      return o;
    }
    if (op == Op::Bra) {
      o.kind = OperandKind::Label;
      fixups->push_back({index, t.text});
      return o;
    }
    o.kind = OperandKind::Symbol;
    o.imm = symbolIndex(t.text, t.line);
    if (static_cast<int>(o.imm) < 0)
      parseFail(t.line, "unknown symbol %s", t.text.c_str());
    return o;
  }

  Instr parseInstruction(std::vector<std::pair<size_t, std::string>> *fixups) {
    Instr in;
    const Token *t = &next();
    in.line = t->line;
    if (t->text == "@") {
      bool negate = accept("!");
      in.guard = registerIndex(next());
      in.guardNegate = negate;
      t = &next();
    }
    std::string opcode = t->text;
    std::vector<std::string> parts;
    {
      size_t start = 0;
      while (true) {
        size_t dot = opcode.find('.', start);
        parts.push_back(opcode.substr(start, dot - start));
        if (dot == std::string::npos)
          break;
        start = dot + 1;
      }
    }
    static const std::map<std::string, Op> ops = {
        {"mov", Op::Mov},     {"ld", Op::Ld},       {"ldu", Op::Ld},
        {"st", Op::St},       {"cvta", Op::Cvta},   {"add", Op::Add},
        {"addc", Op::Add},    {"sub", Op::Sub},     {"subc", Op::Sub},
        {"mul", Op::Mul},     {"mad", Op::Mad},     {"madc", Op::Mad},
        {"div", Op::Div},     {"rem", Op::Rem},     {"neg", Op::Neg},
        {"abs", Op::Abs},     {"min", Op::Min},     {"max", Op::Max},
        {"and", Op::And},     {"or", Op::Or},       {"xor", Op::Xor},
        {"not", Op::Not},     {"cnot", Op::Cnot},   {"shl", Op::Shl},
        {"shr", Op::Shr},     {"shf", Op::Shf},     {"bfe", Op::Bfe},
        {"bfi", Op::Bfi},     {"selp", Op::Selp},   {"setp", Op::Setp},
        {"cvt", Op::Cvt},     {"fma", Op::Fma},     {"rcp", Op::Rcp},
        {"sqrt", Op::Sqrt},   {"rsqrt", Op::Rsqrt}, {"ex2", Op::Ex2},
        {"lg2", Op::Lg2},     {"sin", Op::Sin},     {"cos", Op::Cos},
        {"tanh", Op::Tanh},   {"shfl", Op::Shfl},   {"bar", Op::Bar},
        {"barrier", Op::Bar}, {"membar", Op::Nop},  {"fence", Op::Nop},
        {"ret", Op::Ret},     {"exit", Op::Ret},    {"bra", Op::Bra},
        {"popc", Op::Popc},   {"clz", Op::Clz},     {"brev", Op::Brev},
        {"prmt", Op::Prmt},   {"copysign", Op::Copysign},
        {"mma", Op::Mma},     {"ldmatrix", Op::Ldmatrix}};
    if (parts[0] == "cp")
      return parseAsyncCopy(in, opcode, parts, fixups);
    auto found = ops.find(parts[0]);
    if (found == ops.end())
      parseFail(in.line, "the interpreter does not support '%s'",
                opcode.c_str());
    in.op = found->second;
    in.carryIn = parts[0] == "addc" || parts[0] == "subc" ||
                 parts[0] == "madc";
    bool warpBarrier = false;
    std::vector<Type> types;
    static const std::map<std::string, Cmp> cmps = {
        {"eq", Cmp::Eq},   {"ne", Cmp::Ne},   {"lt", Cmp::Lt},
        {"le", Cmp::Le},   {"gt", Cmp::Gt},   {"ge", Cmp::Ge},
        {"lo", Cmp::Lt},   {"ls", Cmp::Le},   {"hi", Cmp::Gt},
        {"hs", Cmp::Ge},   {"equ", Cmp::Equ}, {"neu", Cmp::Neu},
        {"ltu", Cmp::Ltu}, {"leu", Cmp::Leu}, {"gtu", Cmp::Gtu},
        {"geu", Cmp::Geu}, {"num", Cmp::Num}, {"nan", Cmp::Nan}};
    static const std::map<std::string, Round> rounds = {
        {"rn", Round::Rn},   {"rz", Round::Rz},   {"rm", Round::Rm},
        {"rp", Round::Rp},   {"rni", Round::Rni}, {"rzi", Round::Rzi},
        {"rmi", Round::Rmi}, {"rpi", Round::Rpi}};
    for (size_t i = 1; i < parts.size(); ++i) {
      const std::string &m = parts[i];
      Type type;
      if (parseType(m, &type)) {
        types.push_back(type);
      } else if (m == "bf16x2") { // two bf16 in 32 bits, lane by lane
        in.pairBf16 = true;
        types.push_back({Kind::Float, 32, true});
      } else if (in.op == Op::Mma && (m == "m16n8k16" || m == "row" ||
                                      m == "col")) {
        // The one shape and layout supported; checked below.
      } else if (in.op == Op::Ldmatrix && m == "m8n8") {
      } else if (in.op == Op::Ldmatrix && (m == "x1" || m == "x2" ||
                                           m == "x4")) {
        in.matrices = m[1] - '0';
      } else if (in.op == Op::Ldmatrix && m == "trans") {
        in.transpose = true;
      } else if (in.op == Op::Setp && cmps.count(m) && in.cmp == Cmp::None) {
        in.cmp = cmps.at(m);
      } else if (in.op == Op::Setp && (m == "and" || m == "or" || m == "xor")) {
        in.boolOp = m == "and" ? BoolOp::And
                    : m == "or" ? BoolOp::Or
                                : BoolOp::Xor;
      } else if (rounds.count(m)) {
        in.round = rounds.at(m);
      } else if (m == "lo" || m == "hi" || m == "wide") {
        in.half = m == "lo" ? Half::Lo : m == "hi" ? Half::Hi : Half::Wide;
      } else if (m == "global" || m == "shared" || m == "local" ||
                 m == "param" || m == "const") {
        in.space = m == "global"   ? Space::Global
                   : m == "shared" ? Space::Shared
                   : m == "local"  ? Space::Local
                   : m == "param"  ? Space::Param
                                   : Space::Const;
      } else if (m == "to") {
        in.toSpace = true;
      } else if (m == "v2" || m == "v4") {
        // The vector operand says how many.
      } else if (m == "cc") {
        in.carryOut = true;
      } else if (m == "ftz") {
        in.ftz = true;
      } else if (m == "sat") {
        in.sat = true;
      } else if (m == "NaN") {
        in.nanMax = true;
      } else if (m == "up" || m == "down" || m == "bfly" || m == "idx") {
        in.shuffle = m == "up"     ? Shuffle::Up
                     : m == "down" ? Shuffle::Down
                     : m == "bfly" ? Shuffle::Bfly
                                   : Shuffle::Idx;
      } else if (m == "l" || m == "r") {
        in.left = m == "l";
      } else if (m == "wrap" || m == "clamp") {
        in.wrap = m == "wrap";
      } else if (m == "warp") {
        warpBarrier = true;
      } else if (m == "approx" || m == "full" || m == "sync" ||
                 m == "aligned" || m == "uni" || m == "nc" || m == "ca" ||
                 m == "cg" || m == "cs" || m == "lu" || m == "cv" ||
                 m == "wb" || m == "wt" || m == "volatile" || m == "weak" ||
                 m == "relaxed" || m == "cta" || m == "gpu" || m == "sys" ||
                 m == "sc" || m == "acq_rel" || m == "ptr" ||
                 m.find("::") != std::string::npos) {
        // No effect here: caches, memory order (all accesses are
        // sequential), approximation (the host's function is used).
      } else {
        parseFail(in.line, "the interpreter does not support '%s' in '%s'",
                  m.c_str(), opcode.c_str());
      }
    }
    if (in.op == Op::Bar && warpBarrier)
      in.op = Op::Nop;
    if (!types.empty())
      in.type = types[0];
    if (types.size() > 1)
      in.type2 = types[1];
    if (in.op == Op::Cvt && types.size() != 2)
      parseFail(in.line, "cvt needs two types");
    if (in.op == Op::Mma &&
        (opcode != "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32"))
      parseFail(in.line, "'%s': of mma, only m16n8k16.row.col with bf16 "
                         "inputs and f32 accumulators is supported",
                opcode.c_str());
    if (in.op == Op::Ldmatrix &&
        (in.matrices == 0 || in.space != Space::Shared ||
         in.type.bits != 16))
      parseFail(in.line, "'%s': ldmatrix is supported as "
                         "ldmatrix.sync.aligned.m8n8.{x1,x2,x4}[.trans]"
                         ".shared.b16",
                opcode.c_str());
    if (in.type.valid() && in.type.bf16 && in.op != Op::Cvt &&
        in.op != Op::Mma &&
        in.op != Op::Fma && in.op != Op::Add && in.op != Op::Sub &&
        in.op != Op::Mul && in.op != Op::Neg && in.op != Op::Abs &&
        in.op != Op::Max && in.op != Op::Min)
      parseFail(in.line, "bf16 '%s' is not supported", opcode.c_str());
    if (in.op == Op::Shfl && in.shuffle == Shuffle::None)
      parseFail(in.line, "shfl without a mode");
    size_t index = currentCodeSize_; // where this instruction goes
    if (peek().text != ";") {
      do {
        in.ops.push_back(parseOperand(fixups, index, in.op));
      } while (accept(","));
    }
    expect(";");
    if (in.op == Op::Bar && in.ops.size() > 1)
      parseFail(in.line, "bar.sync with a thread count is not supported");
    return in;
  }

  /// cp.async.{ca,cg}.shared.global [dst], [src], bytes[, src-bytes];
  /// cp.async.commit_group; cp.async.wait_group N; cp.async.wait_all.
  Instr parseAsyncCopy(Instr &in, const std::string &opcode,
                       const std::vector<std::string> &parts,
                       std::vector<std::pair<size_t, std::string>> *fixups) {
    auto unsupported = [&] {
      parseFail(in.line, "the interpreter does not support '%s'",
                opcode.c_str());
    };
    if (parts.size() < 3 || parts[1] != "async")
      unsupported();
    if (parts[2] == "commit_group" && parts.size() == 3) {
      in.op = Op::CpCommit;
    } else if (parts[2] == "wait_group" && parts.size() == 3) {
      in.op = Op::CpWait;
    } else if (parts[2] == "wait_all" && parts.size() == 3) {
      in.op = Op::CpWait; // no operand: wait for every group
    } else if (parts[2] == "ca" || parts[2] == "cg") {
      in.op = Op::CpAsync;
      for (size_t i = 3; i < parts.size(); ++i)
        if (parts[i] != "shared" && parts[i] != "global" &&
            parts[i].find("::") == std::string::npos)
          unsupported();
    } else {
      unsupported();
    }
    if (peek().text != ";")
      do {
        in.ops.push_back(parseOperand(fixups, currentCodeSize_, in.op));
      } while (accept(","));
    expect(";");
    size_t want = in.op == Op::CpCommit ? 0 : in.op == Op::CpWait ? 1 : 3;
    if (parts[2] == "wait_all")
      want = 0;
    if (in.ops.size() != want && !(in.op == Op::CpAsync && in.ops.size() == 4))
      parseFail(in.line, "'%s' with %zu operands", opcode.c_str(),
                in.ops.size());
    return in;
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  Module *module_ = nullptr;
  std::map<std::string, Symbol> moduleSymbols_, kernelSymbols_;
  std::unordered_map<std::string, int> registers_;
  std::map<std::string, size_t> labels_;
  std::vector<int> regBits_;
  std::vector<Symbol> symbols_;
  uint64_t sharedTop_ = 0;
  size_t currentCodeSize_ = 0;
};

} // namespace

std::shared_ptr<Module> parseModule(const std::string &text,
                                    std::string *error) {
  try {
    Parser parser(text);
    return parser.parse(text);
  } catch (const ParseError &e) {
    *error = e.message;
    return nullptr;
  }
}

const Kernel *findKernel(const Module &module, const std::string &name) {
  for (const auto &k : module.kernels)
    if (k->name == name)
      return k.get();
  return nullptr;
}

} // namespace ptxi
