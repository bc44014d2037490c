// tokenizer.json `decoder` components: BPEDecoder, ByteFallback, ByteLevel, CTC, Fuse, Metaspace,
// Replace, Sequence, Strip, WordPiece.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/json_view.h"

namespace modelgrow::hf {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // HF's decode_chain: tokens in, tokens out; the tokenizer joins the final list.
  virtual std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const = 0;
};

// TokenizerError naming the JSON path for unknown types and bad options.
std::unique_ptr<Decoder> MakeDecoder(const JsonView& json);

}  // namespace modelgrow::hf
