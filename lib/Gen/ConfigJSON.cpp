//===- ConfigJSON.cpp - model configs in JSON -----------------------------===//
//
// Reads a model config from a JSON object. Sizes are required (a config
// describes a whole model); dtype, block, layer_norm_epsilon and z_loss have
// the presets' defaults. Unknown keys are errors, so a misspelt key cannot
// silently fall back to a default.
//
//===----------------------------------------------------------------------===//

#include "palm/Gen/ModelConfig.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir::palm::gen;
using llvm::StringRef;

namespace {
/// A required integer key and the field it fills.
struct SizeKey {
  const char *key;
  int64_t ModelConfig::*field;
};
} // namespace

static const SizeKey kSizeKeys[] = {
    {"layers", &ModelConfig::layers},    {"d_model", &ModelConfig::dModel},
    {"heads", &ModelConfig::heads},      {"kv_heads", &ModelConfig::kvHeads},
    {"head_dim", &ModelConfig::headDim}, {"d_ff", &ModelConfig::dFF},
    {"vocab", &ModelConfig::vocab},      {"seq", &ModelConfig::seq},
    {"batch", &ModelConfig::batch},
};

static const StringRef kOptionalKeys[] = {
    "name", "dtype", "param_dtype", "block", "layer_norm_epsilon", "z_loss"};

/// Prints a JSON value compactly for a message.
static std::string render(const llvm::json::Value &value) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << value;
  return text;
}

static llvm::Error fieldError(StringRef source, StringRef key,
                              const llvm::Twine &message) {
  return makeGenError(source + ": '" + key + "' " + message);
}

/// Reads an optional number key into `out`.
static llvm::Error readNumber(const llvm::json::Object &object,
                              StringRef source, StringRef key, double &out) {
  const llvm::json::Value *value = object.get(key);
  if (!value)
    return llvm::Error::success();
  std::optional<double> number = value->getAsNumber();
  if (!number)
    return fieldError(source, key, "must be a number, got " + render(*value));
  out = *number;
  return llvm::Error::success();
}

/// Reads an optional string key into `out`.
static llvm::Error readString(const llvm::json::Object &object,
                              StringRef source, StringRef key,
                              std::optional<StringRef> &out) {
  const llvm::json::Value *value = object.get(key);
  if (!value)
    return llvm::Error::success();
  out = value->getAsString();
  if (!out)
    return fieldError(source, key, "must be a string, got " + render(*value));
  return llvm::Error::success();
}

llvm::Expected<ModelConfig>
mlir::palm::gen::parseModelConfig(StringRef json, StringRef source) {
  llvm::Expected<llvm::json::Value> root = llvm::json::parse(json);
  if (!root)
    return makeGenError(
        source + ": malformed JSON: " + llvm::toString(root.takeError()));
  const llvm::json::Object *object = root->getAsObject();
  if (!object)
    return makeGenError(source +
                        ": a model config must be a JSON object, "
                        "got " +
                        render(*root));

  // Report unknown keys in sorted order: the object's own order is a hash
  // order, and the message must not depend on it.
  llvm::SmallVector<StringRef> unknown;
  for (const auto &entry : *object) {
    StringRef key = entry.first;
    if (!llvm::is_contained(kOptionalKeys, key) &&
        llvm::none_of(kSizeKeys,
                      [&](const SizeKey &size) { return key == size.key; }))
      unknown.push_back(key);
  }
  if (!unknown.empty()) {
    llvm::sort(unknown);
    return makeGenError(source + ": unknown key '" + unknown.front() +
                        "' (see docs/palm-gen.md for the config keys)");
  }

  ModelConfig config;
  config.name = "custom";
  for (const SizeKey &size : kSizeKeys) {
    const llvm::json::Value *value = object->get(size.key);
    if (!value)
      return makeGenError(source + ": missing field '" + size.key + "'");
    std::optional<int64_t> integer = value->getAsInteger();
    if (!integer)
      return fieldError(source, size.key,
                        "must be an integer that fits in int64, got " +
                            render(*value));
    if (*integer <= 0)
      return fieldError(source, size.key,
                        "must be positive, got " + llvm::Twine(*integer));
    config.*size.field = *integer;
  }

  std::optional<StringRef> name, dtype, paramDType, block;
  if (llvm::Error error = readString(*object, source, "name", name))
    return std::move(error);
  if (name)
    config.name = name->str();
  if (llvm::Error error = readString(*object, source, "dtype", dtype))
    return std::move(error);
  if (dtype) {
    std::optional<DType> parsed = parseDType(*dtype);
    if (!parsed)
      return fieldError(source, "dtype",
                        "must be \"f32\" or \"bf16\", got \"" + *dtype + "\"");
    config.dtype = *parsed;
  }
  if (llvm::Error error =
          readString(*object, source, "param_dtype", paramDType))
    return std::move(error);
  if (paramDType) {
    std::optional<DType> parsed = parseDType(*paramDType);
    if (!parsed)
      return fieldError(source, "param_dtype",
                        "must be \"f32\" or \"bf16\", got \"" +
                            *paramDType + "\"");
    config.paramDType = *parsed;
  }
  if (llvm::Error error = readString(*object, source, "block", block))
    return std::move(error);
  if (block) {
    std::optional<BlockKind> parsed = parseBlockKind(*block);
    if (!parsed)
      return fieldError(source, "block",
                        "must be \"parallel\" or \"serial\", got \"" + *block +
                            "\"");
    config.block = *parsed;
  }
  if (llvm::Error error = readNumber(*object, source, "layer_norm_epsilon",
                                     config.layerNormEpsilon))
    return std::move(error);
  if (llvm::Error error = readNumber(*object, source, "z_loss", config.zLoss))
    return std::move(error);
  return config;
}
