// SentencePiece tokenisation: the library's own encoding, EOS/BOS, truncation, padding, masks.
#include <algorithm>
#include <cstdlib>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/prompt_template.h"
#include "common/sentencepiece_training.h"
#include "common/tokenizer.h"
#include "modelgrow/sdk/atomic_file.h"
#include "test_util.h"
#include "text/caption_corpus.h"

namespace modelgrow {
namespace {

using testing::TempDir;

std::string TrainedModel(PieceConvention convention, std::vector<std::string> symbols = {}) {
  SentencePieceTrainOptions o;
  o.vocab_size = 128;
  o.convention = convention;
  o.user_defined_symbols = std::move(symbols);
  std::vector<std::string> lines = testing::CaptionCorpus();
  if (!o.user_defined_symbols.empty()) lines.push_back(ApplyTemplate(kDefaultLlmTemplate, ""));
  return TrainSentencePiece(lines, o);
}

// SentencePiece's own encoder is its spm_encode program (the library cannot be linked beside
// LibTorch; see text_encoders/common/sentencepiece_shim.h).
std::vector<std::vector<int64_t>> SpmEncode(const std::string& model,
                                            const std::vector<std::string>& lines) {
  TempDir dir;
  WriteFileAtomic(dir / "m.model", model);
  std::string input;
  for (const std::string& l : lines) input += l + "\n";
  WriteFileAtomic(dir / "in.txt", input);
  std::string command = "spm_encode --model=" + (dir / "m.model").string() +
                        " --output_format=id < " + (dir / "in.txt").string() + " > " +
                        (dir / "out.txt").string() + " 2>/dev/null";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  std::vector<std::vector<int64_t>> out;
  std::istringstream text(ReadFile(dir / "out.txt"));
  std::string line;
  while (std::getline(text, line)) {
    std::istringstream ids(line);
    std::vector<int64_t> row;
    for (int64_t id; ids >> id;) row.push_back(id);
    out.push_back(row);
  }
  return out;
}

TEST(Tokenizer, MatchesSentencePieceItself) {
  for (PieceConvention convention : {PieceConvention::kT5, PieceConvention::kLlama}) {
    std::string model = TrainedModel(convention, LlmTemplateMarkers());
    SentencePieceTokenizer tokenizer = SentencePieceTokenizer::FromSerialized(model, "trained");
    std::vector<std::string> prompts = {"a red cube moves left on a grey floor",
                                        "a purple zebra dances!", "  extra   spaces  ",
                                        "<|eot_id|>a cone<|start_header_id|>", "Ünïcödé — 猫 cube"};
    std::vector<std::vector<int64_t>> expected = SpmEncode(model, prompts);
    ASSERT_EQ(expected.size(), prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_EQ(tokenizer.Encode(prompts[i]), expected[i]) << prompts[i];
    }
  }
  SentencePieceTokenizer t =
      SentencePieceTokenizer::FromSerialized(TrainedModel(PieceConvention::kT5), "trained");
  EXPECT_TRUE(t.Encode("").empty());
  EXPECT_EQ(t.Decode(t.Encode("a blue sphere")), "a blue sphere");
  EXPECT_EQ(t.IdToPiece(t.eos_id()), "</s>");
  EXPECT_EQ(t.PieceToId("</s>"), t.eos_id());
  EXPECT_EQ(t.PieceToId("no-such-piece"), -1);
}

TEST(Tokenizer, T5ConventionPadsWithZeroAndEndsWithEos) {
  SentencePieceTokenizer t =
      SentencePieceTokenizer::FromSerialized(TrainedModel(PieceConvention::kT5), "t5");
  EXPECT_EQ(t.pad_id(), 0);
  EXPECT_EQ(t.eos_id(), 1);
  EXPECT_EQ(t.unk_id(), 2);
  EXPECT_EQ(t.bos_id(), -1);
  std::vector<std::string> prompts = {"a red cube", "a green sphere spins slowly in a dark room"};
  TokenizedBatch b =
      TokenizeBatch(t, prompts, {.max_length = 24, .add_bos = false, .add_eos = true, .pad_id = 0});
  ASSERT_EQ(b.ids.sizes(), (std::vector<int64_t>{2, 24}));
  EXPECT_EQ(b.truncated, 0);
  for (int i = 0; i < 2; ++i) {
    std::vector<int64_t> pieces = t.Encode(prompts[i]);
    int64_t n = static_cast<int64_t>(pieces.size());
    EXPECT_EQ(b.lengths[i], n + 1);
    for (int64_t j = 0; j < n; ++j) EXPECT_EQ(b.ids[i][j].item<int64_t>(), pieces[j]);
    EXPECT_EQ(b.ids[i][n].item<int64_t>(), 1);  // EOS
    EXPECT_EQ(b.mask[i].sum().item<int64_t>(), n + 1);
    EXPECT_TRUE(b.mask[i][n].item<bool>());
    EXPECT_FALSE(b.mask[i][n + 1].item<bool>());
    EXPECT_EQ(b.ids[i].slice(0, n + 1).abs().sum().item<int64_t>(), 0);  // padding is pad_id 0
  }
}

TEST(Tokenizer, TruncationKeepsBosAndEosAndIsCounted) {
  SentencePieceTokenizer t =
      SentencePieceTokenizer::FromSerialized(TrainedModel(PieceConvention::kLlama), "llama");
  EXPECT_EQ(t.unk_id(), 0);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  std::string long_prompt = testing::CaptionCorpus()[3] + " " + testing::CaptionCorpus()[5];
  std::vector<int64_t> pieces = t.Encode(long_prompt);
  ASSERT_GT(pieces.size(), 8u);
  TokenizedBatch b = TokenizeBatch(
      t, {long_prompt, "a cube"}, {.max_length = 8, .add_bos = true, .add_eos = true, .pad_id = 0});
  EXPECT_EQ(b.truncated, 1);
  EXPECT_EQ(b.lengths[0], static_cast<int64_t>(pieces.size()) + 2);
  EXPECT_EQ(b.ids[0][0].item<int64_t>(), 1);
  for (int j = 0; j < 6; ++j) EXPECT_EQ(b.ids[0][j + 1].item<int64_t>(), pieces[j]);
  EXPECT_EQ(b.ids[0][7].item<int64_t>(), 2);
  EXPECT_TRUE(b.mask[0].all().item<bool>());
  EXPECT_EQ(b.ids[1][0].item<int64_t>(), 1);
  EXPECT_THROW_WITH(TokenizeBatch(t, {"x"}, {.max_length = 2, .add_bos = true, .add_eos = true}),
                    InputError, "max_length 2");
}

TEST(Tokenizer, TemplateMarkersAreSinglePiecesInTinyLlamaTokenizers) {
  SentencePieceTokenizer t = SentencePieceTokenizer::FromSerialized(
      TrainedModel(PieceConvention::kLlama, LlmTemplateMarkers()), "llama");
  for (const std::string& marker : LlmTemplateMarkers()) {
    EXPECT_GE(t.PieceToId(marker), 0) << marker;
  }
  std::string text = ApplyTemplate(kDefaultLlmTemplate, "a red cube");
  std::vector<int64_t> ids = t.Encode(text);
  int64_t eot = t.PieceToId("<|eot_id|>");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), eot), 2);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), t.unk_id()), 0) << t.Decode(ids);
}

TEST(Tokenizer, TemplateNeedsOnePromptSlot) {
  EXPECT_EQ(ApplyTemplate("<<{prompt}>>", "x"), "<<x>>");
  EXPECT_THROW_WITH(ApplyTemplate("no slot", "x"), InputError, "{prompt} exactly once");
  EXPECT_THROW_WITH(CheckTemplate("{prompt}{prompt}", "llm.template"), InputError, "llm.template",
                    "exactly once");
}

TEST(Tokenizer, LoadErrorsNameTheFile) {
  TempDir dir;
  EXPECT_THROW_WITH(SentencePieceTokenizer::Load(dir / "spiece.model"), InputError, "spiece.model",
                    "does not exist");
  WriteFileAtomic(dir / "spiece.model", "not a model");
  EXPECT_THROW_WITH(SentencePieceTokenizer::Load(dir / "spiece.model"), InputError, "spiece.model",
                    "not a SentencePiece model");
  EXPECT_THROW_WITH(FindSentencePieceModel(dir.path(), {"tokenizer.model"}), InputError,
                    "has no tokenizer", "tokenizer.json", "tokenizer.model");
}

TEST(Tokenizer, VocabularyMismatchIsAnError) {
  SentencePieceTokenizer t =
      SentencePieceTokenizer::FromSerialized(TrainedModel(PieceConvention::kT5), "spiece.model");
  EXPECT_NO_THROW(CheckTokenizerFits(t, t.vocab_size(), "config.json"));
  EXPECT_NO_THROW(CheckTokenizerFits(t, t.vocab_size() + 100, "config.json"));  // T5's extra ids
  std::string pieces = fmt::format("{} pieces", t.vocab_size());
  EXPECT_THROW_WITH(CheckTokenizerFits(t, 50, "m/config.json"), InputError, "spiece.model",
                    pieces.c_str(), "vocab_size 50", "does not belong");
}

TEST(Tokenizer, TrainingIsDeterministic) {
  EXPECT_EQ(TrainedModel(PieceConvention::kT5), TrainedModel(PieceConvention::kT5));
}

}  // namespace
}  // namespace modelgrow
