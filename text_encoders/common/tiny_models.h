// Tiny text models the toolkit makes itself for experiments on a laptop-class CPU: a Hugging Face
// folder (config.json, model.safetensors, a SentencePiece model trained on the captions,
// tokenizer_config.json) that the t5 / llm plugins load through exactly the path a real model
// takes. The plugins' Makers (`make = {...}`, `modelgrow text make`) call this.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/tiny_model_options.h"

namespace modelgrow {

// The captions as the lines of a corpus file hold them: split at newlines, a trailing '\r'
// dropped, blank lines skipped. InputError when none is left.
std::vector<std::string> CorpusLines(const std::vector<std::string>& captions);

struct TinyModelFacts {
  int64_t vocab_size = 0;  // pieces of the trained tokenizer = the model's vocabulary
  int64_t parameters = 0;
  int64_t captions = 0;  // corpus lines the tokenizer was trained on
  // {"vocab_size", "parameters", "captions"}
  nlohmann::json ToJson() const;
};

// Trains the tokenizer on the captions, initialises the model from the seed (Hugging Face's
// initialisation rules) and writes `folder` atomically (replacing an old one). The same options
// and captions give the same bytes. InputError for invalid options (all problems named).
TinyModelFacts MakeTinyModel(const TinyModelOptions& options,
                             const std::vector<std::string>& captions,
                             const std::filesystem::path& folder);

}  // namespace modelgrow
