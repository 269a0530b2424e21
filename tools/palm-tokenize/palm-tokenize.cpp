//===- palm-tokenize.cpp - SentencePiece tokenizer for palm corpora -------===//
//
// Trains a SentencePiece model on a text corpus, encodes a corpus into palm
// token files (TokenFile.h) with a held-out split, decodes them back to text
// and prints their statistics. Every user error is one line on stderr and
// exit code 1. See docs/data.md.
//
//===----------------------------------------------------------------------===//

#include "Corpus.h"
#include "TokenFile.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <unordered_map>
#include <unistd.h>

using namespace palm::tokenize;

namespace {

/// A user error: main prints it and exits with 1.
struct UsageError {
  std::string message;
};

/// `--name value` / `--name=value` options after the subcommand. Options in
/// `multi` take every following argument up to the next `--option`.
struct Options {
  std::map<std::string, std::vector<std::string>> values;
  std::vector<std::string> positional;

  bool has(const std::string &name) const { return values.count(name) != 0; }
  std::string get(const std::string &name, const std::string &dflt) const {
    auto it = values.find(name);
    return it == values.end() ? dflt : it->second.back();
  }
  std::string require(const std::string &name) const {
    if (!has(name))
      throw UsageError{"missing --" + name};
    return get(name, "");
  }
};

} // namespace

static const char *const kUsage =
    "usage:\n"
    "  palm-tokenize train --input FILE_OR_DIR... --vocab N --model PREFIX\n"
    "                      [--max-bytes B] [--glob PATTERN]\n"
    "                      [--model-type bpe|unigram] [--verbose]\n"
    "  palm-tokenize encode --model PREFIX.model --input FILE_OR_DIR...\n"
    "                      --output OUT.tokens [--max-bytes B] [--glob "
    "PATTERN]\n"
    "                      [--heldout-fraction F --heldout-output "
    "HELD.tokens]\n"
    "  palm-tokenize decode --model PREFIX.model FILE.tokens\n"
    "  palm-tokenize stats FILE.tokens\n";

constexpr uint64_t kDefaultMaxBytes = 16u << 20;
// The trainer sees the corpus in pieces of at most this many bytes (it
// drops longer sentences); cut after newlines, so no line is split unless
// it is longer than this.
constexpr size_t kTrainingPieceBytes = 4096;
constexpr int kUnkId = 0;
constexpr int kEosId = 1;
// Byte fallback adds 256 byte pieces; <unk> and </s> are two more.
constexpr uint64_t kMinVocab = 256 + 2 + 1;

static Options parseOptions(int argc, char **argv,
                            const std::vector<std::string> &known,
                            const std::vector<std::string> &multi,
                            const std::vector<std::string> &flags) {
  auto in = [](const std::vector<std::string> &set, const std::string &s) {
    return std::find(set.begin(), set.end(), s) != set.end();
  };
  Options opts;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      opts.positional.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    size_t eq = name.find('=');
    bool inlineValue = eq != std::string::npos;
    if (inlineValue) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (in(flags, name)) {
      opts.values[name].push_back("1");
      continue;
    }
    if (!in(known, name))
      throw UsageError{"unknown option '--" + name + "' for '" + argv[1] +
                       "'"};
    std::vector<std::string> &slot = opts.values[name];
    if (inlineValue) {
      slot.push_back(value);
    } else if (in(multi, name)) {
      size_t before = slot.size();
      while (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0)
        slot.push_back(argv[++i]);
      if (slot.size() == before)
        throw UsageError{"--" + name + " needs at least one value"};
    } else {
      if (i + 1 >= argc)
        throw UsageError{"--" + name + " needs a value"};
      slot.push_back(argv[++i]);
    }
  }
  return opts;
}

static uint64_t parseCount(const std::string &name, const std::string &text) {
  char *end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0' || errno == ERANGE)
    throw UsageError{"--" + name + " expects a non-negative integer, got '" +
                     text + "'"};
  return v;
}

static std::vector<Document> collect(const Options &opts) {
  if (!opts.has("input"))
    throw UsageError{"missing --input"};
  uint64_t maxBytes = kDefaultMaxBytes;
  if (opts.has("max-bytes"))
    maxBytes = parseCount("max-bytes", opts.get("max-bytes", ""));
  std::vector<Document> docs;
  std::string err = collectCorpus(opts.values.at("input"),
                                  opts.get("glob", "*"), maxBytes, docs);
  if (!err.empty())
    throw UsageError{err};
  if (docs.empty())
    throw UsageError{"empty corpus: no non-empty file under --input matches "
                     "--glob '" + opts.get("glob", "*") + "'"};
  return docs;
}

static void check(const sentencepiece::util::Status &status,
                  const std::string &what) {
  if (!status.ok())
    throw UsageError{what + ": " + status.ToString()};
}

static void loadModel(sentencepiece::SentencePieceProcessor &sp,
                      const std::string &path) {
  if (access(path.c_str(), R_OK) != 0)
    throw UsageError{"cannot read model '" + path + "'"};
  check(sp.Load(path), "cannot load model '" + path + "'");
  if (sp.eos_id() < 0)
    throw UsageError{"model '" + path + "' has no end-of-sequence piece"};
}

/// Fails early, before minutes of training or encoding, when `path` cannot
/// be created: its directory is missing or not writable.
static void checkWritable(const std::string &path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "."
                    : slash == 0               ? "/"
                                               : path.substr(0, slash);
  if (access(dir.c_str(), W_OK) != 0)
    throw UsageError{"cannot write '" + path + "': directory '" + dir + "' " +
                     (access(dir.c_str(), F_OK) != 0 ? "does not exist"
                                                      : "is not writable")};
}

namespace {

/// Hands the trainer the corpus as pieces of at most kTrainingPieceBytes.
class CorpusIterator : public sentencepiece::SentenceIterator {
public:
  explicit CorpusIterator(const std::vector<Document> &docs) {
    for (const Document &doc : docs)
      for (std::string &piece : splitForTraining(doc.text, kTrainingPieceBytes))
        pieces.push_back(std::move(piece));
  }
  bool done() const override { return next >= pieces.size(); }
  void Next() override { ++next; }
  const std::string &value() const override { return pieces[next]; }
  sentencepiece::util::Status status() const override { return {}; }

private:
  std::vector<std::string> pieces;
  size_t next = 0;
};

/// Sends stderr to /dev/null while alive: SentencePiece's trainer logs
/// hundreds of lines there.
class QuietStderr {
public:
  explicit QuietStderr(bool quiet) {
    if (!quiet)
      return;
    std::fflush(stderr);
    saved = dup(STDERR_FILENO);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved >= 0 && null >= 0)
      dup2(null, STDERR_FILENO);
    if (null >= 0)
      close(null);
  }
  ~QuietStderr() {
    if (saved < 0)
      return;
    std::fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
  }

private:
  int saved = -1;
};

} // namespace

/// A piece as the .vocab file shows it: one line per id, so the pieces that
/// span line ends (frequent in code) are written with C escapes.
static std::string escapePiece(const std::string &piece) {
  std::string out;
  for (char c : piece) {
    switch (c) {
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default: out += c;
    }
  }
  return out;
}

static int runTrain(int argc, char **argv) {
  Options opts = parseOptions(argc, argv,
                              {"input", "vocab", "model", "max-bytes", "glob",
                               "model-type"},
                              {"input"}, {"verbose"});
  if (!opts.positional.empty())
    throw UsageError{"unexpected argument '" + opts.positional[0] + "'"};
  std::string prefix = opts.require("model");
  uint64_t vocab = parseCount("vocab", opts.require("vocab"));
  if (vocab < kMinVocab)
    throw UsageError{"--vocab " + std::to_string(vocab) + " is too small: " +
                     "the 256 byte pieces, <unk> and </s> alone take 258 "
                     "(at least " + std::to_string(kMinVocab) + ")"};
  if (vocab > uint64_t(INT_MAX))
    throw UsageError{"--vocab " + std::to_string(vocab) +
                     " is too large for SentencePiece (at most " +
                     std::to_string(INT_MAX) + ")"};
  std::string modelType = opts.get("model-type", "bpe");
  if (modelType != "bpe" && modelType != "unigram")
    throw UsageError{"--model-type must be bpe or unigram, got '" + modelType +
                     "'"};
  checkWritable(prefix + ".model");
  std::vector<Document> docs = collect(opts);
  uint64_t bytes = 0;
  for (const Document &doc : docs)
    bytes += doc.text.size();

  // BPE by default: on Python sources it trains 3x faster than unigram
  // and encodes in 3-6% fewer tokens (docs/data.md). Lossless, as PaLM's
  // vocabulary: identity normalization, whitespace kept (runs of spaces may
  // be pieces of their own, which suits indented code), unknown characters
  // as UTF-8 byte pieces, each digit its own piece. One thread, no
  // sampling, a fixed seed: the same corpus gives the same model bytes.
  std::unordered_map<std::string, std::string> spec = {
      {"model_type", modelType},
      {"vocab_size", std::to_string(vocab)},
      {"byte_fallback", "true"},
      {"split_digits", "true"},
      {"normalization_rule_name", "identity"},
      {"remove_extra_whitespaces", "false"},
      {"add_dummy_prefix", "false"},
      {"allow_whitespace_only_pieces", "true"},
      {"max_sentence_length", std::to_string(kTrainingPieceBytes)},
      {"input_sentence_size", "0"},
      {"shuffle_input_sentence", "false"},
      {"num_threads", "1"},
      {"unk_id", std::to_string(kUnkId)},
      {"eos_id", std::to_string(kEosId)},
      {"bos_id", "-1"},
      {"pad_id", "-1"},
  };
  sentencepiece::SetRandomGeneratorSeed(20220405);
  std::string serialized;
  sentencepiece::util::Status status;
  {
    QuietStderr quiet(!opts.has("verbose"));
    CorpusIterator corpus(docs);
    status = sentencepiece::SentencePieceTrainer::Train(spec, &corpus,
                                                        &serialized);
  }
  check(status, "SentencePiece training failed");

  sentencepiece::SentencePieceProcessor sp;
  check(sp.LoadFromSerializedProto(serialized), "trained model is invalid");
  std::string vocabText;
  for (int id = 0; id < sp.GetPieceSize(); ++id) {
    std::ostringstream line;
    line << escapePiece(sp.IdToPiece(id)) << '\t' << sp.GetScore(id) << '\n';
    vocabText += line.str();
  }
  for (auto [path, text] : {std::pair{prefix + ".model", &serialized},
                            std::pair{prefix + ".vocab", &vocabText}})
    if (std::string err = writeFileAtomically(path, *text); !err.empty())
      throw UsageError{err};

  std::cout << "corpus: " << docs.size() << " documents, " << bytes
            << " bytes\n"
            << "model: " << prefix << ".model, " << prefix << ".vocab\n"
            << "vocabulary size: " << sp.GetPieceSize() << "\n";
  return 0;
}

static int runEncode(int argc, char **argv) {
  Options opts = parseOptions(
      argc, argv,
      {"model", "input", "output", "max-bytes", "glob", "heldout-fraction",
       "heldout-output"},
      {"input"}, {});
  if (!opts.positional.empty())
    throw UsageError{"unexpected argument '" + opts.positional[0] + "'"};
  std::string output = opts.require("output");
  // Every k-th document (1-based) is held out, k = round(1 / F): the held-out
  // set is spread over the whole corpus, and fixed by the file order alone.
  uint64_t every = 0;
  if (opts.has("heldout-fraction") != opts.has("heldout-output"))
    throw UsageError{"--heldout-fraction and --heldout-output go together"};
  if (opts.has("heldout-fraction")) {
    std::string text = opts.get("heldout-fraction", "");
    char *end = nullptr;
    double f = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(f > 0.0 && f <= 0.5))
      throw UsageError{"--heldout-fraction must be in (0, 0.5], got '" +
                       text + "'"};
    every = uint64_t(std::llround(1.0 / f));
  }
  checkWritable(output);
  if (every != 0)
    checkWritable(opts.get("heldout-output", ""));
  sentencepiece::SentencePieceProcessor sp;
  loadModel(sp, opts.require("model"));
  std::vector<Document> docs = collect(opts);

  std::vector<uint32_t> split[2];
  uint64_t docCount[2] = {0, 0}, byteCount[2] = {0, 0};
  std::vector<int> ids;
  for (size_t i = 0; i < docs.size(); ++i) {
    check(sp.Encode(docs[i].text, &ids), "cannot encode '" + docs[i].path +
                                             "'");
    int which = every != 0 && (i + 1) % every == 0 ? 1 : 0;
    split[which].insert(split[which].end(), ids.begin(), ids.end());
    split[which].push_back(uint32_t(sp.eos_id()));
    ++docCount[which];
    byteCount[which] += docs[i].text.size();
  }
  if (docCount[0] == 0)
    throw UsageError{"the training split is empty"};
  if (every != 0 && docCount[1] == 0)
    throw UsageError{"the held-out split is empty: " +
                     std::to_string(docs.size()) + " documents, every " +
                     std::to_string(every) + "th is held out"};

  uint64_t vocab = uint64_t(sp.GetPieceSize());
  if (std::string err = writeTokenFile(output, vocab, split[0]); !err.empty())
    throw UsageError{err};
  if (every != 0) {
    std::string held = opts.get("heldout-output", "");
    if (std::string err = writeTokenFile(held, vocab, split[1]); !err.empty())
      throw UsageError{err};
  }
  std::cout << "train: " << docCount[0] << " documents, " << byteCount[0]
            << " bytes, " << split[0].size() << " tokens -> " << output
            << "\n";
  if (every != 0)
    std::cout << "held-out: " << docCount[1] << " documents (every " << every
              << "th), " << byteCount[1] << " bytes, " << split[1].size()
              << " tokens -> " << opts.get("heldout-output", "") << "\n";
  std::cout << "vocabulary size: " << vocab << " (palm-gen --vocab " << vocab
            << ")\n"
            << "train unigram entropy: " << std::fixed << std::setprecision(4)
            << unigramEntropy(split[0], vocab) << " nats/token\n";
  return 0;
}

static TokenFile readTokens(const Options &opts) {
  if (opts.positional.size() != 1)
    throw UsageError{"expected one token file"};
  TokenFile file;
  if (std::string err = readTokenFile(opts.positional[0], file); !err.empty())
    throw UsageError{err};
  return file;
}

static int runDecode(int argc, char **argv) {
  Options opts = parseOptions(argc, argv, {"model"}, {}, {});
  TokenFile file = readTokens(opts);
  sentencepiece::SentencePieceProcessor sp;
  loadModel(sp, opts.require("model"));
  if (file.vocabSize != uint64_t(sp.GetPieceSize()))
    throw UsageError{"the token file's vocabulary size " +
                     std::to_string(file.vocabSize) + " is not the model's " +
                     std::to_string(sp.GetPieceSize())};
  // Documents are printed back to back, as the files they came from.
  std::vector<int> doc;
  std::string text;
  for (size_t i = 0; i <= file.tokens.size(); ++i) {
    if (i < file.tokens.size() && int(file.tokens[i]) != sp.eos_id()) {
      doc.push_back(int(file.tokens[i]));
      continue;
    }
    check(sp.Decode(doc, &text), "cannot decode");
    std::cout << text;
    doc.clear();
  }
  std::cout.flush();
  return std::cout ? 0 : 1;
}

static int runStats(int argc, char **argv) {
  Options opts = parseOptions(argc, argv, {}, {}, {});
  TokenFile file = readTokens(opts);
  std::vector<bool> seen(file.vocabSize, false);
  uint64_t distinct = 0;
  for (uint32_t id : file.tokens)
    if (!seen[id]) {
      seen[id] = true;
      ++distinct;
    }
  std::cout << "version: " << file.version << "\n"
            << "token width: " << file.width << " bytes\n"
            << "vocabulary size: " << file.vocabSize << "\n"
            << "tokens: " << file.tokens.size() << "\n"
            << "distinct tokens: " << distinct << "\n"
            << "unigram entropy: " << std::fixed << std::setprecision(4)
            << unigramEntropy(file.tokens, file.vocabSize) << " nats/token\n";
  return 0;
}

int main(int argc, char **argv) {
  std::string command = argc > 1 ? argv[1] : "";
  try {
    if (command == "train")
      return runTrain(argc, argv);
    if (command == "encode")
      return runEncode(argc, argv);
    if (command == "decode")
      return runDecode(argc, argv);
    if (command == "stats")
      return runStats(argc, argv);
    if (command == "-h" || command == "--help" || command == "help") {
      std::cout << kUsage;
      return 0;
    }
    throw UsageError{command.empty() ? "missing subcommand"
                                     : "unknown subcommand '" + command + "'"};
  } catch (const UsageError &e) {
    std::cerr << "palm-tokenize: error: " << e.message << "\n";
    if (e.message.rfind("missing subcommand", 0) == 0 ||
        e.message.rfind("unknown subcommand", 0) == 0)
      std::cerr << kUsage;
    return 1;
  }
}
