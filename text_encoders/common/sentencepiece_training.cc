#include "common/sentencepiece_training.h"

#include <map>

#include <fmt/format.h>

#include "common/sentencepiece_library.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

std::string Join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
  return out;
}

}  // namespace

std::string TrainSentencePiece(const std::vector<std::string>& lines,
                               const SentencePieceTrainOptions& options) {
  if (lines.empty()) throw InputError("cannot train a tokenizer on an empty corpus");
  if (options.model_type != "unigram" && options.model_type != "bpe") {
    throw InputError(
        fmt::format("tokenizer type '{}' is not supported (unigram or bpe)", options.model_type));
  }
  std::map<std::string, std::string> args = {
      {"model_type", options.model_type},
      {"vocab_size", std::to_string(options.vocab_size)},
      // Small corpora cannot fill a fixed vocabulary; take what the corpus supports.
      {"hard_vocab_limit", "false"},
      {"character_coverage", "1.0"},
      // One thread: the trainer's result must not depend on scheduling.
      {"num_threads", "1"},
      {"shuffle_input_sentence", "false"},
      {"minloglevel", "2"},
  };
  if (options.convention == PieceConvention::kT5) {
    args.insert({{"pad_id", "0"}, {"eos_id", "1"}, {"unk_id", "2"}, {"bos_id", "-1"}});
  } else {
    args.insert({{"unk_id", "0"}, {"bos_id", "1"}, {"eos_id", "2"}, {"pad_id", "-1"}});
  }
  if (!options.user_defined_symbols.empty()) {
    args["user_defined_symbols"] = Join(options.user_defined_symbols, ",");
  }
  args["random_seed"] = std::to_string(static_cast<unsigned int>(options.seed));
  std::vector<const char*> keys, values, rows;
  for (const auto& [k, v] : args) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  for (const std::string& line : lines) rows.push_back(line.c_str());
  const SentencePieceLibrary& spm = SentencePiece();
  char* data = nullptr;
  size_t size = 0;
  char* error = nullptr;
  if (spm.train(keys.data(), values.data(), keys.size(), rows.data(), rows.size(), &data, &size,
                &error) != 0) {
    std::string message = error ? error : "unknown error";
    spm.release(error);
    throw InputError(fmt::format("SentencePiece training failed: {}", message));
  }
  std::string model(data, size);
  spm.release(data);
  return model;
}

}  // namespace modelgrow
