// The one error type of the tokenizer.json library: bad files, unsupported components and bad
// input text. The message says where (file and JSON path) and what was expected.
#pragma once

#include <stdexcept>

namespace modelgrow::hf {

// Stands in for the toolkit's InputError until the library is wired into the host, which keeps
// this folder free of any LibTorch or toolkit dependency.
class TokenizerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace modelgrow::hf
