// Hugging Face tokenizer.json: every model, normalizer, pre-tokenizer, post-processor and decoder
// the reader supports, then encoding and decoding a few texts with what it built.
#include "common/hf_tokenizer.h"
#include "common/tokenizer_error.h"
#include "fuzz/fuzz_util.h"
#include "modelgrow/sdk/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelgrow;
  try {
    hf::HfTokenizer tokenizer =
        hf::HfTokenizer::FromJson(fuzz::AsText(data, size), "tokenizer.json");
    for (const char* text : {"a red circle moves left", "  Ünïcödé\tdigits 12345 <s></s>[CLS]", "",
                             "\xe2\x96\x81x\xf0\x9f\x98\x80 don't"}) {
      std::vector<int32_t> ids = tokenizer.Encode(text);
      (void)tokenizer.Decode(ids);
      (void)tokenizer.Decode(ids, /*skip_special_tokens=*/true);
      (void)tokenizer.EncodeTruncated(text, true, 4);
    }
    (void)tokenizer.EncodePair("first part", "second part");
    (void)tokenizer.Decode({0, 1, 2, -1, 1 << 30});
  } catch (const hf::TokenizerError&) {
  } catch (const InputError&) {
  }
  return 0;
}
