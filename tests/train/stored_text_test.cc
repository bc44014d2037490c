// Text embeddings that come with the data replace the encoder in training, as Open-Sora trains
// from precomputed T5 features: embeddings stored per sample (an HDF5 shard's /text/<name>) and an
// encoder keyed by sample index (the `precomputed` plugin with key = "index") give the model
// exactly the training it gets from the encoder -- caption dropout included, which puts the
// model's null embedding in place of the stored one -- and the encoder is never called.
#include <map>
#include <memory>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/train/trainer.h"
#include "test_util.h"
#include "train/train_fixtures.h"

namespace modelgrow {
namespace {

using testing::HashedWords;
using testing::MaxAbsError;
using testing::TempDir;
using testing::TinySpec;
using testing::TinyTraining;
using testing::TinyVideos;

// The tiny videos, each sample carrying `encoder`'s embedding of its short caption as "words",
// as an export with `--encode words=...:short` stores it.
class WithStoredWords : public DataPipeline {
 public:
  WithStoredWords(std::shared_ptr<DataPipeline> base, std::string caption, std::string key)
      : base_(std::move(base)), caption_(std::move(caption)), key_(std::move(key)) {}
  void Open() override { base_->Open(); }
  int64_t size() const override { return base_->size(); }
  Sample Get(int64_t index) override {
    Sample s = base_->Get(index);
    HashedWords words;  // the same vectors as the run's encoder
    s.text_embeddings["words"] = words.Encode({s.captions.at("short")});
    return s;
  }
  std::string CacheKey() const override { return base_->CacheKey() + "+words"; }
  std::map<std::string, StoredTextInfo> stored_text() const override {
    return {{"words", {caption_, key_, 6, 16}}};
  }

 private:
  std::shared_ptr<DataPipeline> base_;
  std::string caption_, key_;
};

// An index-keyed encoder: sample i's row is the encoding of sample i's short caption; asked by
// prompt it fails.
class IndexedWords : public HashedWords, public SampleIndexedTextEncoder {
 public:
  explicit IndexedWords(std::shared_ptr<DataPipeline> data) : data_(std::move(data)) {}
  TextEncoding Encode(const std::vector<std::string>&) override {
    throw RunError("IndexedWords: asked by prompt");
  }
  TextEncoding EncodeSamples(const std::vector<int64_t>& indices) override {
    ++sample_calls;
    std::vector<std::string> prompts;
    for (int64_t i : indices) prompts.push_back(data_->Get(i).captions.at("short"));
    return HashedWords::Encode(prompts);
  }
  int64_t sample_calls = 0;

 private:
  std::shared_ptr<DataPipeline> data_;
};

std::map<std::string, at::Tensor> Params(const STDiT3Impl& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : model.named_parameters()) out[item.key()] = item.value().detach().clone();
  return out;
}

void ExpectSameWeights(const STDiT3Impl& a, const STDiT3Impl& b) {
  auto pa = Params(a), pb = Params(b);
  for (const auto& [name, t] : pb) EXPECT_LE(MaxAbsError(pa.at(name), t), 1e-6) << name;
}

TrainSpec WithDropout() {
  TrainSpec spec = TinySpec();
  spec.steps = 5;
  spec.caption_dropout = 0.4;  // the null embedding replaces stored embeddings too
  return spec;
}

TEST(StoredText, EmbeddingsTheDataCarryReplaceTheEncoder) {
  TempDir dir;
  const std::string key = HashedWords().CacheKey();
  auto stored = std::make_shared<WithStoredWords>(TinyVideos(), "short", key);
  TinyTraining from_data(dir / "stored", WithDropout(), 0, stored);
  from_data.context.stored_text = stored->stored_text();
  TinyTraining encoded(dir / "encoded", WithDropout());
  from_data.Run();
  encoded.Run();
  auto& words = static_cast<HashedWords&>(from_data.text->encoder());
  EXPECT_EQ(words.calls, 0);  // the encoder was never asked
  EXPECT_GT(static_cast<HashedWords&>(encoded.text->encoder()).calls, 0);
  ExpectSameWeights(*from_data.model, *encoded.model);
}

TEST(StoredText, AnotherCaptionKindIsEncoded) {
  TempDir dir;
  auto stored = std::make_shared<WithStoredWords>(TinyVideos(), "short", HashedWords().CacheKey());
  TrainSpec spec = WithDropout();
  spec.caption = "mixed";  // some samples short (stored), some detailed (encoded)
  TinyTraining mixed(dir / "mixed", spec, 0, stored);
  mixed.context.stored_text = stored->stored_text();
  TinyTraining encoded(dir / "encoded", spec);
  mixed.Run();
  encoded.Run();
  auto& words = static_cast<HashedWords&>(mixed.text->encoder());
  EXPECT_GT(words.calls, 0);
  // Only the detailed captions reached it.
  for (const std::string& p : words.encoded) EXPECT_EQ(p.rfind("a bright white bar", 0), 0u) << p;
  ExpectSameWeights(*mixed.model, *encoded.model);
}

TEST(StoredText, EmbeddingsOfAnotherEncoderAreRefused) {
  TempDir dir;
  auto stored = std::make_shared<WithStoredWords>(TinyVideos(), "short", "some-other-encoder");
  TinyTraining t(dir / "t", WithDropout(), 0, stored);
  t.context.stored_text = stored->stored_text();
  EXPECT_THROW_WITH(t.Run(), InputError, "'words'", "some-other-encoder", HashedWords().CacheKey(),
                    "export the data again");
}

TEST(StoredText, AnIndexKeyedEncoderIsAskedBySampleIndex) {
  TempDir dir;
  auto videos = TinyVideos();
  TinyTraining by_index(dir / "index", WithDropout(), 0, videos);
  auto indexed = std::make_shared<IndexedWords>(videos);
  by_index.text = std::make_unique<TextEncoderCache>(indexed);
  by_index.context.text = {by_index.text.get()};
  TinyTraining encoded(dir / "encoded", WithDropout());
  by_index.Run();  // Encode() would throw
  encoded.Run();
  EXPECT_GT(indexed->sample_calls, 0);
  ExpectSameWeights(*by_index.model, *encoded.model);
}

}  // namespace
}  // namespace modelgrow
