// T5 and Llama-family parity with Hugging Face transformers (goldens in tests/fixtures/reference,
// made by scripts/goldens/make_goldens.py), and the loading errors.
#include <cmath>
#include <fstream>
#include <functional>
#include <numbers>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/hf_folder.h"
#include "common/llama_decoder.h"
#include "common/t5_encoder.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/safetensors.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::Fixture;
using testing::MaxAbsError;
using testing::TempDir;

constexpr double kParity = 2e-5;

// A copy of a fixture folder whose tensors and config the test may change.
std::filesystem::path CopyFolder(const std::string& fixture, const TempDir& dir) {
  std::filesystem::path to = dir / fixture;
  std::filesystem::copy(Fixture("reference/" + fixture), to,
                        std::filesystem::copy_options::recursive);
  return to;
}

void RewriteTensors(const std::filesystem::path& folder,
                    const std::function<void(NamedTensors&)>& edit) {
  SafetensorsFile file = SafetensorsFile::Open(folder / "model.safetensors");
  NamedTensors tensors;
  for (const std::string& k : file.Keys()) tensors.emplace_back(k, file.Get(k));
  edit(tensors);
  WriteSafetensors(folder / "model.safetensors", tensors, {{"format", "pt"}});
}

void EditConfig(const std::filesystem::path& folder,
                const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json j = nlohmann::json::parse(ReadFile(folder / "config.json"));
  edit(j);
  WriteFileAtomic(folder / "config.json", j.dump(2));
}

TEST(T5Encoder, MatchesTransformers) {
  SafetensorsFile io = SafetensorsFile::Open(Fixture("reference/t5_io.safetensors"));
  for (const char* folder : {"reference/t5", "reference/t5_sharded"}) {
    T5Encoder model = LoadT5Encoder(Fixture(folder));
    torch::NoGradGuard no_grad;
    at::Tensor out = model->forward(io.Get("input_ids"), io.Get("attention_mask"));
    at::Tensor expected = io.Get("last_hidden_state");
    ASSERT_EQ(out.sizes(), expected.sizes()) << folder;
    EXPECT_LT(MaxAbsError(out, expected), kParity) << folder;
    EXPECT_GT(expected.abs().max().item<double>(), 0.1);  // not a trivially small golden
  }
}

TEST(T5Encoder, Bfloat16StaysCloseToFloat32) {
  SafetensorsFile io = SafetensorsFile::Open(Fixture("reference/t5_io.safetensors"));
  T5Encoder model = LoadT5Encoder(Fixture("reference/t5"), at::kBFloat16);
  EXPECT_EQ(model->shared->weight.scalar_type(), at::kBFloat16);
  torch::NoGradGuard no_grad;
  at::Tensor out = model->forward(io.Get("input_ids"), io.Get("attention_mask"));
  EXPECT_EQ(out.scalar_type(), at::kFloat);
  EXPECT_LT(testing::MaxRelError(out, io.Get("last_hidden_state")), 0.05);
}

TEST(T5Encoder, RelativePositionBucketsFollowT5) {
  at::Tensor b = T5RelativePositionBuckets(1, 300, 32, 128)[0];  // query 0, keys 0..299
  // Keys after the query use the upper half of the buckets; exact below 8, log-spaced beyond.
  EXPECT_EQ(b[0].item<int64_t>(), 0);
  EXPECT_EQ(b[7].item<int64_t>(), 16 + 7);
  EXPECT_EQ(b[8].item<int64_t>(), 16 + 8);
  EXPECT_EQ(b[127].item<int64_t>(), 31);
  EXPECT_EQ(b[299].item<int64_t>(), 31);
  at::Tensor back = T5RelativePositionBuckets(300, 1, 32, 128).select(1, 0);  // key 0
  EXPECT_EQ(back[3].item<int64_t>(), 3);
  EXPECT_EQ(back[200].item<int64_t>(), 15);
}

void ExpectDecoderParity(const std::string& name) {
  SafetensorsFile io = SafetensorsFile::Open(Fixture("reference/" + name + "_io.safetensors"));
  LlamaDecoder model = LoadLlamaDecoder(Fixture("reference/" + name));
  torch::NoGradGuard no_grad;
  at::Tensor ids = io.Get("input_ids"), mask = io.Get("attention_mask");
  std::vector<at::Tensor> states = model->HiddenStates(ids, mask);
  ASSERT_EQ(states.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_LT(MaxAbsError(states[i], io.Get(fmt::format("hidden_states.{}", i))), kParity)
        << name << " hidden_states." << i;
    // One state at a time runs only the layers it needs, with the same result.
    EXPECT_LT(MaxAbsError(model->HiddenState(ids, mask, i), states[i]), 1e-6) << name << " " << i;
  }
  EXPECT_LT(MaxAbsError(model->HiddenState(ids, mask, -1), io.Get("last_hidden_state")), kParity);
  EXPECT_LT(MaxAbsError(model->HiddenState(ids, mask, -2), io.Get("hidden_states.1")), 1e-6);
}

TEST(LlamaDecoder, MatchesTransformersLlama) { ExpectDecoderParity("llama"); }
TEST(LlamaDecoder, MatchesTransformersQwen2) { ExpectDecoderParity("qwen2"); }

TEST(LlamaDecoder, ReadsBothRopeSpellingsAndPrefixedKeys) {
  TempDir dir;
  std::filesystem::path folder = CopyFolder("llama", dir);
  // The layout of a real Llama 2 folder: top-level rope_theta, *ForCausalLM keys.
  EditConfig(folder, [](nlohmann::json& j) {
    j.erase("rope_parameters");
    j["rope_theta"] = 10000.0;
  });
  RewriteTensors(folder, [](NamedTensors& t) {
    for (auto& [k, v] : t) k = "model." + k;
    t.emplace_back("lm_head.weight", torch::randn({96, 32}));
  });
  SafetensorsFile io = SafetensorsFile::Open(Fixture("reference/llama_io.safetensors"));
  LlamaDecoder model = LoadLlamaDecoder(folder, /*with_lm_head=*/true);
  torch::NoGradGuard no_grad;
  EXPECT_LT(MaxAbsError(model->HiddenState(io.Get("input_ids"), io.Get("attention_mask"), -1),
                        io.Get("last_hidden_state")),
            kParity);
  EXPECT_EQ(model->Logits(io.Get("input_ids"), io.Get("attention_mask")).sizes(),
            (std::vector<int64_t>{2, 8, 96}));
}

TEST(LlamaDecoder, Llama3RopeScalingFollowsTheFrequencyRule) {
  LlamaConfig c;
  c.head_dim = 128;
  c.rope_theta = 500000.0;
  c.rope_scaling.type = "llama3";
  c.rope_scaling.factor = 8.0;
  c.rope_scaling.low_freq_factor = 1.0;
  c.rope_scaling.high_freq_factor = 4.0;
  c.rope_scaling.original_max_position_embeddings = 8192;
  at::Tensor got = LlamaRotaryInverseFrequencies(c);
  ASSERT_EQ(got.size(0), 64);
  int high = 0, low = 0, mid = 0;
  for (int i = 0; i < 64; ++i) {
    double f = 1.0 / std::pow(500000.0, 2.0 * i / 128.0);
    double wavelen = 2 * std::numbers::pi / f, expected = f;
    if (wavelen < 8192.0 / 4.0) {
      ++high;  // short wavelengths: unchanged
    } else if (wavelen > 8192.0 / 1.0) {
      expected = f / 8.0;  // long: slowed by the factor
      ++low;
    } else {
      double smooth = (8192.0 / wavelen - 1.0) / (4.0 - 1.0);
      expected = (1 - smooth) * f / 8.0 + smooth * f;
      ++mid;
    }
    EXPECT_NEAR(got[i].item<double>(), expected, 1e-6 * f + 1e-12) << i;
  }
  EXPECT_GT(high, 0);
  EXPECT_GT(low, 0);
  EXPECT_GT(mid, 0);

  TempDir dir;
  std::filesystem::path folder = CopyFolder("llama", dir);
  EditConfig(folder, [](nlohmann::json& j) {
    j.erase("rope_parameters");
    j["rope_theta"] = 500000.0;
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", 8.0},
                         {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0},
                         {"original_max_position_embeddings", 8192}};
  });
  LlamaConfig read = LlamaConfig::FromHf(HfConfig::Read(folder));
  EXPECT_EQ(read.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(read.rope_theta, 500000.0);
  EXPECT_DOUBLE_EQ(read.rope_scaling.factor, 8.0);
}

TEST(TextModelLoading, MissingFolderOrConfig) {
  TempDir dir;
  EXPECT_THROW_WITH(LoadT5Encoder(dir / "nope"), InputError, "nope", "does not exist");
  std::filesystem::create_directories(dir / "empty");
  EXPECT_THROW_WITH(LoadT5Encoder(dir / "empty"), InputError, "config.json", "is missing");
  WriteFileAtomic(dir / "empty" / "config.json", "{ not json");
  EXPECT_THROW_WITH(LoadLlamaDecoder(dir / "empty"), InputError, "config.json", "not valid JSON");
}

TEST(TextModelLoading, MissingOrDamagedWeights) {
  TempDir dir;
  std::filesystem::path folder = CopyFolder("llama", dir);
  std::filesystem::rename(folder / "model.safetensors", dir / "moved.safetensors");
  EXPECT_THROW_WITH(LoadLlamaDecoder(folder), InputError, "no model.safetensors",
                    "model.safetensors.index.json");
  std::filesystem::copy_file(dir / "moved.safetensors", folder / "model.safetensors");
  std::filesystem::resize_file(folder / "model.safetensors", 4000);
  EXPECT_THROW_WITH(LoadLlamaDecoder(folder), InputError, "model.safetensors");
  std::filesystem::path sharded = CopyFolder("t5_sharded", dir);
  std::filesystem::remove(sharded / "model-00002-of-00003.safetensors");
  EXPECT_THROW_WITH(LoadT5Encoder(sharded), InputError, "model-00002-of-00003.safetensors",
                    "does not exist");
}

TEST(TextModelLoading, UnknownModelType) {
  TempDir dir;
  std::filesystem::path folder = CopyFolder("t5", dir);
  EditConfig(folder, [](nlohmann::json& j) { j["model_type"] = "bert"; });
  EXPECT_THROW_WITH(LoadT5Encoder(folder), InputError, "config.json", "model_type", "'bert'",
                    "not a T5 encoder");
  EXPECT_THROW_WITH(LoadLlamaDecoder(Fixture("reference/t5")), InputError, "model_type", "'t5'",
                    "\"llama\", \"qwen2\" or \"mistral\"");
}

TEST(TextModelLoading, MissingAndMisshapenTensorsAreNamed) {
  TempDir dir;
  std::filesystem::path folder = CopyFolder("t5", dir);
  RewriteTensors(folder, [](NamedTensors& t) {
    std::erase_if(t, [](const auto& kv) {
      return kv.first == "encoder.block.1.layer.1.DenseReluDense.wo.weight";
    });
    for (auto& [k, v] : t) {
      if (k == "encoder.block.0.layer.0.SelfAttention.q.weight") v = torch::zeros({16, 32});
    }
  });
  EXPECT_THROW_WITH(LoadT5Encoder(folder), InputError, "missing tensors (1)",
                    "encoder.block.1.layer.1.DenseReluDense.wo.weight",
                    "encoder.block.0.layer.0.SelfAttention.q.weight has shape [16, 32], expected "
                    "[32, 32]");

  std::filesystem::path qwen = CopyFolder("qwen2", dir);
  RewriteTensors(qwen, [](NamedTensors& t) {
    std::erase_if(t, [](const auto& kv) { return kv.first == "layers.1.self_attn.k_proj.bias"; });
  });
  EXPECT_THROW_WITH(LoadLlamaDecoder(qwen), InputError, "layers.1.self_attn.k_proj.bias");
}

TEST(TextModelLoading, BadConfigValuesNameTheKey) {
  TempDir dir;
  std::filesystem::path folder = CopyFolder("llama", dir);
  EditConfig(folder, [](nlohmann::json& j) { j["num_key_value_heads"] = 3; });
  EXPECT_THROW_WITH(LoadLlamaDecoder(folder), InputError, "num_key_value_heads", "does not divide");
  EditConfig(folder, [](nlohmann::json& j) {
    j["num_key_value_heads"] = 2;
    j["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 10000.0}};
  });
  EXPECT_THROW_WITH(LoadLlamaDecoder(folder), InputError, "rope_parameters.rope_type", "'yarn'");
  EditConfig(folder, [](nlohmann::json& j) { j.erase("hidden_size"); });
  EXPECT_THROW_WITH(LoadLlamaDecoder(folder), InputError, "hidden_size", "missing");
  std::filesystem::path t5 = CopyFolder("t5", dir);
  EditConfig(t5, [](nlohmann::json& j) { j["feed_forward_proj"] = "gated-swish"; });
  EXPECT_THROW_WITH(LoadT5Encoder(t5), InputError, "feed_forward_proj", "gated-swish");
}

TEST(TextModelLoading, HiddenLayerOutOfRange) {
  LlamaDecoder model = LoadLlamaDecoder(Fixture("reference/llama"));
  EXPECT_EQ(model->ResolveHiddenIndex(-1), 2);
  EXPECT_EQ(model->ResolveHiddenIndex(0), 0);
  EXPECT_THROW_WITH(model->ResolveHiddenIndex(3), InputError, "hidden_layer 3", "3 hidden states");
  EXPECT_THROW_WITH(model->ResolveHiddenIndex(-4), InputError, "hidden_layer -4");
}

}  // namespace
}  // namespace modelgrow
