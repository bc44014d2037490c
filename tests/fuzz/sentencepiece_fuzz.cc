// SentencePiece model files (a serialized ModelProto): the wire-format reader, the conversion to
// a tokenizer.json, and the tokenizer that conversion builds.
#include "common/hf_tokenizer.h"
#include "common/sentencepiece_conversion.h"
#include "common/sentencepiece_model.h"
#include "common/tokenizer_error.h"
#include "fuzz/fuzz_util.h"
#include "modelgrow/sdk/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelgrow;
  try {
    SentencePieceModel model = SentencePieceModel::Parse(fuzz::AsText(data, size), "spiece.model");
    SentencePieceConversion options;
    options.suffix = {};
    std::string json = SentencePieceToTokenizerJson(model, options).dump();
    hf::HfTokenizer tokenizer = hf::HfTokenizer::FromJson(json, "converted tokenizer.json");
    (void)tokenizer.Decode(tokenizer.Encode("a red circle moves left"));
  } catch (const hf::TokenizerError&) {
  } catch (const InputError&) {
  }
  return 0;
}
