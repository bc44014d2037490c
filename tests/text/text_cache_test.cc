// The host's text cache: each distinct prompt reaches the encoder once, the disk cache outlives
// the cache object, and encoders never share entries.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fakes/hashed_words.h"
#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/text/text_cache.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::TempDir;

// Three-wide embeddings of four tokens: small enough to read, and each word's vector fixed.
std::shared_ptr<testing::HashedWords> Encoder(const std::string& key, int64_t dim = 3) {
  return std::make_shared<testing::HashedWords>(dim, 4, key);
}

TEST(TextCache, PromptEncodedTwiceRunsTheEncoderOnce) {
  auto encoder = Encoder("counting");
  TextEncoderCache cache(encoder);
  TextEncoding first = cache.Encode({"a cat", "a dog"});
  TextEncoding second = cache.Encode({"a dog", "a cat"});
  EXPECT_EQ(encoder->calls, 1);
  EXPECT_EQ(cache.encoder_calls(), 1);
  EXPECT_EQ(cache.prompts_encoded(), 2);
  EXPECT_EQ(cache.hits(), 2);
  EXPECT_TRUE(torch::equal(second.embedding[0], first.embedding[1]));
  EXPECT_TRUE(torch::equal(second.mask[1], first.mask[0]));

  // Only the new prompt reaches the encoder; a repeat inside one batch is encoded once.
  TextEncoding third = cache.Encode({"a cat", "a bird", "a bird"});
  EXPECT_EQ(encoder->calls, 2);
  EXPECT_EQ(encoder->encoded, (std::vector<std::string>{"a cat", "a dog", "a bird"}));
  EXPECT_EQ(third.embedding.sizes(), (std::vector<int64_t>{3, 4, 3}));
  EXPECT_TRUE(torch::equal(third.embedding[1], third.embedding[2]));
  EXPECT_TRUE(torch::equal(
      third.embedding,
      testing::HashedWords(3, 4, "x").Encode({"a cat", "a bird", "a bird"}).embedding));
}

TEST(TextCache, DiskCacheSurvivesANewCacheObject) {
  TempDir dir;
  TextEncoding original;
  {
    auto encoder = Encoder("counting-v1");
    TextEncoderCache cache(encoder, dir.path());
    original = cache.Encode({"a cat", "a dog"});
    EXPECT_EQ(cache.disk_folder(), dir / "counting-v1");
    EXPECT_TRUE(
        std::filesystem::exists(dir / "counting-v1" / (Sha256Hex("a cat") + ".safetensors")));
  }
  auto encoder = Encoder("counting-v1");
  TextEncoderCache cache(encoder, dir.path());
  TextEncoding again = cache.Encode({"a dog", "a cat"});
  EXPECT_EQ(encoder->calls, 0);
  EXPECT_EQ(cache.disk_hits(), 2);
  EXPECT_TRUE(torch::equal(again.embedding[0], original.embedding[1]));
  EXPECT_TRUE(torch::equal(again.mask[1], original.mask[0]));
}

TEST(TextCache, DifferentEncodersDoNotShareEntries) {
  TempDir dir;
  auto a = Encoder("encoder-a", 3);
  auto b = Encoder("encoder-b", 5);
  TextEncoderCache cache_a(a, dir.path()), cache_b(b, dir.path());
  TextEncoding from_a = cache_a.Encode({"same prompt"});
  TextEncoding from_b = cache_b.Encode({"same prompt"});
  EXPECT_EQ(a->calls, 1);
  EXPECT_EQ(b->calls, 1);
  EXPECT_FALSE(torch::equal(from_a.embedding, from_b.embedding));
  EXPECT_NE(cache_a.disk_folder(), cache_b.disk_folder());
  // A key that is not a plain file name still gets its own folder inside the cache dir.
  auto c = Encoder("weird/key with spaces");
  TextEncoderCache cache_c(c, dir.path());
  EXPECT_EQ(cache_c.disk_folder().parent_path(), dir.path());
  cache_c.Encode({"same prompt"});
  EXPECT_EQ(c->calls, 1);
}

TEST(TextCache, DamagedDiskEntryIsEncodedAgain) {
  TempDir dir;
  auto encoder = Encoder("counting");
  {
    TextEncoderCache cache(encoder, dir.path());
    cache.Encode({"a cat"});
  }
  std::filesystem::path file = dir / "counting" / (Sha256Hex("a cat") + ".safetensors");
  std::filesystem::resize_file(file, 20);
  TextEncoderCache cache(encoder, dir.path());
  TextEncoding out = cache.Encode({"a cat"});
  EXPECT_EQ(encoder->calls, 2);
  EXPECT_TRUE(torch::equal(out.embedding, Encoder("fresh")->Encode({"a cat"}).embedding));
}

TEST(TextCache, MemoryLimitEvictsLeastRecentlyUsed) {
  auto encoder = Encoder("counting");
  TextEncoderCache cache(encoder);
  cache.Encode({"p1", "p2", "p3"});
  int64_t per_entry = cache.memory_bytes() / 3;
  cache.Encode({"p1"});  // p1 is now the most recent
  cache.set_memory_limit_bytes(2 * per_entry);
  EXPECT_EQ(cache.memory_bytes(), 2 * per_entry);
  cache.Encode({"p1", "p3"});
  EXPECT_EQ(encoder->calls, 1);
  cache.Encode({"p2"});  // evicted: encoded again
  EXPECT_EQ(encoder->calls, 2);
}

TEST(TextCache, PromptHashIsSha256OfUtf8) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(std::string(1000, 'a')),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

}  // namespace
}  // namespace modelgrow
