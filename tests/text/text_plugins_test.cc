// The t5, llm and precomputed plugins through the host's registry, as a manifest table reaches
// them: options, encoding, truncation reports, loading errors, the HDF5 schema of the docs.
#include <cstdlib>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <torch/torch.h>

#include "caption_corpus.h"
#include "modelgrow/base/options.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/io/atomic_file.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/text/chat_template.h"
#include "modelgrow/text/llama_decoder.h"
#include "modelgrow/text/prompt_hash.h"
#include "modelgrow/text/text_cache.h"
#include "modelgrow/text/tiny_models.h"
#include "modelgrow/text/tokenizer.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::TempDir;

std::filesystem::path PluginDir() {
  return std::filesystem::path(MODELGROW_BUILD_DIR) / "lib" / "modelgrow" / "plugins";
}

class TextPlugins : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    testing::WriteCorpus(*dir_ / "corpus.txt");
    for (const char* type : {"t5", "llama"}) {
      TinyEncoderOptions o;
      o.type = type;
      o.corpus = *dir_ / "corpus.txt";
      o.out = *dir_ / type;
      o.vocab_size = 160;
      o.d_model = 32;
      o.seed = 3;
      MakeTinyEncoder(o);
    }
    registry_ = new PluginRegistry();
    for (const char* f : {"text_t5.so", "text_llm.so", "text_precomputed.so"}) {
      registry_->LoadFile(PluginDir() / f);
    }
  }
  static void TearDownTestSuite() {
    delete registry_;
    delete dir_;
  }

  static std::shared_ptr<TextEncoder> Make(const std::string& plugin, const std::string& toml) {
    PluginContext context{
        Options::ParseString(toml, "manifest.toml"), {}, c10::Device(c10::DeviceType::CPU), 0};
    return registry_->MakeTextEncoder(plugin, context);
  }
  static std::string Path(const std::string& name) { return (*dir_ / name).string(); }

  static TempDir* dir_;
  static PluginRegistry* registry_;
};
TempDir* TextPlugins::dir_ = nullptr;
PluginRegistry* TextPlugins::registry_ = nullptr;

TEST_F(TextPlugins, AllThreeAreListed) {
  std::vector<std::string> names;
  for (const PluginInfo& info : registry_->List(PluginKind::kText)) names.push_back(info.name);
  EXPECT_EQ(names, (std::vector<std::string>{"llm", "precomputed", "t5"}));
}

TEST_F(TextPlugins, T5EncodesFromAFolderWithOneTable) {
  auto encoder = Make("t5", fmt::format("path = \"{}\"\nmax_length = 20\n", Path("t5")));
  EXPECT_EQ(encoder->dim(), 32);
  EXPECT_EQ(encoder->max_length(), 20);
  EXPECT_EQ(encoder->null_policy(), NullCaptionPolicy::kModelBuffer);
  TextEncoding e = encoder->Encode({"a red cube moves left", "a blue sphere"});
  EXPECT_EQ(e.embedding.sizes(), (std::vector<int64_t>{2, 20, 32}));
  EXPECT_EQ(e.embedding.scalar_type(), at::kFloat);
  EXPECT_EQ(e.mask.scalar_type(), at::kBool);
  EXPECT_GT(e.mask[0].sum().item<int64_t>(), e.mask[1].sum().item<int64_t>());
  // Deterministic, and a prompt's encoding does not depend on its batch.
  TextEncoding alone = encoder->Encode({"a blue sphere"});
  EXPECT_LT(testing::MaxAbsError(alone.embedding[0], e.embedding[1]), 1e-5);
  EXPECT_EQ(encoder->CacheKey(),
            Make("t5", fmt::format("path = \"{}\"\nmax_length = 20\n", Path("t5")))->CacheKey());
  EXPECT_NE(encoder->CacheKey(),
            Make("t5", fmt::format("path = \"{}\"\nmax_length = 21\n", Path("t5")))->CacheKey());
  auto bf16 =
      Make("t5", fmt::format("path = \"{}\"\nmax_length = 20\ndtype = \"bfloat16\"\n", Path("t5")));
  EXPECT_LT(testing::MaxRelError(bf16->Encode({"a blue sphere"}).embedding, alone.embedding), 0.1);
}

TEST_F(TextPlugins, TruncationIsCountedAndReported) {
  auto encoder = Make("t5", fmt::format("path = \"{}\"\nmax_length = 6\n", Path("t5")));
  ::testing::internal::CaptureStderr();
  TextEncoding e = encoder->Encode({"a red cube moves left on a grey floor", "a cube"});
  encoder->Encode({"a green cylinder falls from the sky in a dark room"});
  std::string warned = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(e.mask[0].all().item<bool>());
  EXPECT_EQ(encoder->Describe()["prompts_truncated"], 2);
  // Reported once, with the count and the max length.
  EXPECT_NE(warned.find("1 prompt(s) longer than max_length 6"), std::string::npos) << warned;
  EXPECT_EQ(warned.find("modelgrow: warning", warned.find("modelgrow: warning") + 1),
            std::string::npos)
      << warned;
}

TEST_F(TextPlugins, LlmEncodesATemplatedPromptAtAChosenLayer) {
  auto last = Make("llm", fmt::format("path = \"{}\"\nmax_length = 64\n", Path("llama")));
  auto first =
      Make("llm", fmt::format("path = \"{}\"\nmax_length = 64\nhidden_layer = 1\n", Path("llama")));
  auto plain = Make(
      "llm",
      fmt::format("path = \"{}\"\nmax_length = 64\ntemplate = \"{{prompt}}\"\n", Path("llama")));
  EXPECT_EQ(last->dim(), 32);
  TextEncoding a = last->Encode({"a red cube"});
  TextEncoding b = first->Encode({"a red cube"});
  TextEncoding c = plain->Encode({"a red cube"});
  EXPECT_EQ(a.embedding.sizes(), (std::vector<int64_t>{1, 64, 32}));
  EXPECT_FALSE(torch::allclose(a.embedding, b.embedding));
  EXPECT_GT(a.mask.sum().item<int64_t>(), c.mask.sum().item<int64_t>() + 10);  // the system line
  EXPECT_NE(last->CacheKey(), first->CacheKey());
  EXPECT_NE(last->CacheKey(), plain->CacheKey());
  EXPECT_EQ(last->Describe()["template"], std::string(kDefaultLlmTemplate));

  // The same numbers as the core model on the same ids.
  LlamaDecoder model = LoadLlamaDecoder(*dir_ / "llama");
  SentencePieceTokenizer tok = SentencePieceTokenizer::Load(*dir_ / "llama" / "tokenizer.model");
  TokenizedBatch ids =
      TokenizeBatch(tok, {ApplyTemplate(kDefaultLlmTemplate, "a red cube")},
                    {.max_length = 64, .add_bos = true, .add_eos = false, .pad_id = tok.eos_id()});
  torch::NoGradGuard no_grad;
  EXPECT_LT(testing::MaxAbsError(model->HiddenState(ids.ids, ids.mask, -1), a.embedding), 1e-6);
}

TEST_F(TextPlugins, CacheRunsThePluginOncePerPrompt) {
  auto encoder = Make("t5", fmt::format("path = \"{}\"\nmax_length = 12\n", Path("t5")));
  TextEncoderCache cache(encoder);
  TextEncoding first = cache.Encode({"a red cube", "a blue cone"});
  TextEncoding second = cache.Encode({"a blue cone"});
  EXPECT_EQ(cache.encoder_calls(), 1);
  EXPECT_TRUE(torch::equal(second.embedding[0], first.embedding[1]));
}

TEST_F(TextPlugins, OptionProblemsAreReportedTogether) {
  EXPECT_THROW_WITH(Make("t5", "max_length = 1\ndtype = \"fp8\"\nflavour = 3\ndevice = \"tpu\"\n"),
                    InputError, "path", "max_length", "dtype", "flavour", "'tpu' is not a device");
  EXPECT_THROW_WITH(
      Make("llm", fmt::format("path = \"{}\"\ntemplate = \"no slot\"\n", Path("llama"))),
      InputError, "template", "{prompt} exactly once");
  EXPECT_THROW_WITH(Make("llm", fmt::format("path = \"{}\"\nhidden_layer = 9\n", Path("llama"))),
                    InputError, "hidden_layer 9", "out of range");
  EXPECT_THROW_WITH(Make("t5", "path = \"/no/such/folder\"\n"), InputError, "t5", "/no/such/folder",
                    "does not exist");
  EXPECT_THROW_WITH(Make("llm", fmt::format("path = \"{}\"\n", Path("t5"))), InputError,
                    "model_type", "'t5'");
}

TEST_F(TextPlugins, TokenizerProblems) {
  TempDir dir;
  // A Llama 3 / Qwen2 style folder: weights but only tokenizer.json.
  std::filesystem::copy(*dir_ / "llama", dir / "llama3");
  std::filesystem::remove(dir / "llama3" / "tokenizer.model");
  WriteFileAtomic(dir / "llama3" / "tokenizer.json", "{}");
  EXPECT_THROW_WITH(Make("llm", fmt::format("path = \"{}\"\n", (dir / "llama3").string())),
                    InputError, "tokenizer.json", "SentencePiece", "precomputed");
  // A tokenizer with more pieces than the model's vocabulary (the reference T5 has 96), trained
  // on made-up words so the corpus supports 200 pieces.
  std::vector<std::string> words;
  uint32_t state = 12345;
  for (int line = 0; line < 300; ++line) {
    std::string text;
    for (int w = 0; w < 8; ++w) {
      for (int c = 0; c < 5; ++c) {
        state = state * 1664525u + 1013904223u;
        text.push_back(static_cast<char>('a' + (state >> 24) % 26));
      }
      text.push_back(' ');
    }
    words.push_back(text);
  }
  SentencePieceTrainOptions big;
  big.vocab_size = 200;
  WriteFileAtomic(dir / "big.model", TrainSentencePiece(words, big));
  EXPECT_THROW_WITH(Make("t5", fmt::format("path = \"{}\"\ntokenizer = \"{}\"\n",
                                           testing::Fixture("reference/t5").string(),
                                           (dir / "big.model").string())),
                    InputError, "big.model", "200 pieces", "vocab_size 96", "does not belong");
}

// Writes a file as the h5py snippet in docs/text-encoders.md does: float32 embeddings, masks as
// uint8 (or numpy bool, which h5py stores as an 8-bit enum), prompt_sha256 as numpy "S64", and
// the optional prompts as variable-length UTF-8 strings.
void WriteH5pyStyle(const std::filesystem::path& file, const std::vector<std::string>& prompts,
                    const at::Tensor& embeddings, const at::Tensor& masks, bool bool_masks,
                    bool with_hashes, bool with_prompts) {
  hid_t f = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  auto write = [&](const char* name, hid_t file_type, hid_t mem_type, std::vector<hsize_t> dims,
                   const void* data) {
    hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    hid_t d = H5Dcreate2(f, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
    H5Dclose(d);
    H5Sclose(space);
  };
  at::Tensor e = embeddings.contiguous();
  write("embeddings", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
        {hsize_t(e.size(0)), hsize_t(e.size(1)), hsize_t(e.size(2))}, e.data_ptr());
  at::Tensor m = masks.to(at::kByte).contiguous();
  std::vector<hsize_t> mdims = {hsize_t(m.size(0)), hsize_t(m.size(1))};
  if (bool_masks) {
    hid_t type = H5Tenum_create(H5T_NATIVE_INT8);
    int8_t no = 0, yes = 1;
    H5Tenum_insert(type, "FALSE", &no);
    H5Tenum_insert(type, "TRUE", &yes);
    write("masks", type, type, mdims, m.data_ptr());
    H5Tclose(type);
  } else {
    write("masks", H5T_STD_U8LE, H5T_NATIVE_UINT8, mdims, m.data_ptr());
  }
  hsize_t n = prompts.size();
  if (with_hashes) {
    std::string packed;
    for (const std::string& p : prompts) packed += PromptHash(p);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 64);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    write("prompt_sha256", type, type, {n}, packed.data());
    H5Tclose(type);
  }
  if (with_prompts) {
    std::vector<const char*> ptrs;
    for (const std::string& p : prompts) ptrs.push_back(p.c_str());
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    write("prompts", type, type, {n}, ptrs.data());
    H5Tclose(type);
  }
  H5Fclose(f);
}

TEST_F(TextPlugins, PrecomputedReadsTheDocumentedSchemaByPromptHash) {
  TempDir dir;
  std::vector<std::string> prompts = {"a red cube", "un cube rouge à gauche", "a blue cone"};
  at::Tensor embeddings = torch::randn({3, 5, 8});
  at::Tensor masks =
      torch::tensor({{1, 1, 0, 0, 0}, {1, 1, 1, 1, 0}, {1, 0, 0, 0, 0}}, torch::kByte)
          .to(torch::kBool);
  for (bool bool_masks : {false, true}) {
    WriteH5pyStyle(dir / "t5_embeddings.h5", prompts, embeddings, masks, bool_masks, true, false);
    // `path` may name the file, or the folder holding <name>.h5.
    for (const std::string& table :
         {fmt::format("path = \"{}\"\n", (dir / "t5_embeddings.h5").string()),
          fmt::format("path = \"{}\"\nname = \"t5_embeddings\"\n", dir.path().string())}) {
      auto encoder = Make("precomputed", table);
      EXPECT_EQ(encoder->dim(), 8);
      EXPECT_EQ(encoder->max_length(), 5);
      TextEncoding e = encoder->Encode({"a blue cone", "un cube rouge à gauche"});
      EXPECT_TRUE(torch::equal(e.embedding[0], embeddings[2]));
      EXPECT_TRUE(torch::equal(e.embedding[1], embeddings[1]));
      EXPECT_TRUE(torch::equal(e.mask[1], masks[1]));
      std::string hash = PromptHash("never encoded");
      EXPECT_THROW_WITH(encoder->Encode({"a red cube", "never encoded"}), InputError,
                        "1 prompt(s) have no precomputed embedding", "\"never encoded\"",
                        hash.c_str());
    }
  }
}

TEST_F(TextPlugins, PrecomputedBySampleIndex) {
  TempDir dir;
  std::vector<std::string> prompts = {"first", "second"};
  at::Tensor embeddings = torch::randn({2, 3, 4});
  at::Tensor masks = torch::ones({2, 3}, torch::kBool);
  WriteH5pyStyle(dir / "e.h5", prompts, embeddings, masks, false, false, true);
  auto encoder =
      Make("precomputed", fmt::format("path = \"{}\"\nkey = \"index\"\n", (dir / "e.h5").string()));
  auto* indexed = dynamic_cast<SampleIndexedTextEncoder*>(encoder.get());
  ASSERT_NE(indexed, nullptr);
  TextEncoding e = indexed->EncodeSamples({1, 0, 1});
  EXPECT_TRUE(torch::equal(e.embedding[0], embeddings[1]));
  EXPECT_TRUE(torch::equal(e.embedding[1], embeddings[0]));
  EXPECT_THROW_WITH(indexed->EncodeSamples({2}), InputError, "sample index 2", "2 rows");
  // With the prompts stored too, prompts find their rows.
  EXPECT_TRUE(torch::equal(encoder->Encode({"second"}).embedding[0], embeddings[1]));

  WriteH5pyStyle(dir / "bare.h5", prompts, embeddings, masks, false, false, false);
  auto bare = Make("precomputed",
                   fmt::format("path = \"{}\"\nkey = \"index\"\n", (dir / "bare.h5").string()));
  EXPECT_THROW_WITH(bare->Encode({"first"}), InputError, "by sample", "no `prompts` dataset");
}

TEST_F(TextPlugins, PrecomputedFileErrors) {
  TempDir dir;
  EXPECT_THROW_WITH(Make("precomputed", fmt::format("path = \"{}\"\n", (dir / "x.h5").string())),
                    InputError, "x.h5", "does not exist");
  WriteFileAtomic(dir / "text.h5", "not hdf5");
  EXPECT_THROW_WITH(Make("precomputed", fmt::format("path = \"{}\"\n", (dir / "text.h5").string())),
                    InputError, "text.h5", "not an HDF5 file");
  WriteH5pyStyle(dir / "nohash.h5", {"a"}, torch::randn({1, 2, 2}), torch::ones({1, 2}), false,
                 false, false);
  EXPECT_THROW_WITH(
      Make("precomputed", fmt::format("path = \"{}\"\n", (dir / "nohash.h5").string())), InputError,
      "nohash.h5", "no dataset 'prompt_sha256'");
  hid_t f = H5Fcreate((dir / "shape.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t e[3] = {2, 3, 4}, m[2] = {2, 5};
  hid_t es = H5Screate_simple(3, e, nullptr), ms = H5Screate_simple(2, m, nullptr);
  H5Dclose(H5Dcreate2(f, "embeddings", H5T_IEEE_F32LE, es, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  H5Dclose(H5Dcreate2(f, "masks", H5T_STD_U8LE, ms, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  H5Sclose(es);
  H5Sclose(ms);
  H5Fclose(f);
  EXPECT_THROW_WITH(Make("precomputed", fmt::format("path = \"{}\"\nkey = \"index\"\n",
                                                    (dir / "shape.h5").string())),
                    InputError, "'masks' must be [N, L] = [2, 3]");
}

TEST_F(TextPlugins, CliListsAndEncodes) {
  std::string cli = std::string(MODELGROW_BUILD_DIR) + "/bin/modelgrow";
  std::string out = (*dir_ / "cli.txt").string();
  ASSERT_EQ(std::system((cli + " plugins --kind text > " + out).c_str()), 0);
  std::string listed = ReadFile(out);
  for (const char* name : {" t5 ", " llm ", " precomputed "}) {
    EXPECT_NE(listed.find(name), std::string::npos) << listed;
  }
  std::string command = fmt::format(
      "{} text encode --plugin llm --set path={} --set max_length=96 --prompt 'a red cube' "
      "--prompt 'a blue cone' --json > {}",
      cli, Path("llama"), out);
  ASSERT_EQ(std::system(command.c_str()), 0);
  nlohmann::json report = nlohmann::json::parse(ReadFile(out));
  EXPECT_EQ(report["embedding_shape"], (std::vector<int64_t>{2, 96, 32}));
  EXPECT_EQ(report["prompts"].size(), 2u);
  EXPECT_GT(report["prompts"][0]["tokens"].get<int>(), 10);
  // Bad input is exit code 2.
  std::string bad =
      fmt::format("{} text encode --plugin t5 --set path=/nope --prompt x 2> {}", cli, out);
  EXPECT_EQ(WEXITSTATUS(std::system(bad.c_str())), 2);
  EXPECT_NE(ReadFile(out).find("/nope"), std::string::npos);
}

}  // namespace
}  // namespace modelgrow
