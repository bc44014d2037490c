#include "modelgrow/sdk/content_hash.h"

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "test_util.h"

namespace modelgrow {
namespace {

using testing::TempDir;

TEST(ContentHash, StreamingSha256EqualsOneShotAtEveryBlockBoundary) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) bytes.push_back(static_cast<char>(i * 31 + 7));
  for (size_t split : {0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 299}) {
    Sha256 sha;
    sha.Update(std::string_view(bytes).substr(0, split));
    sha.Update(std::string_view(bytes).substr(split));
    EXPECT_EQ(sha.HexDigest(), Sha256Hex(bytes)) << "split at " << split;
  }
  // FIPS 180-4's two-block message.
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(ContentHash, FieldsCannotRunIntoEachOther) {
  EXPECT_NE(ContentHash("d").Add("a", "bc").Hex(), ContentHash("d").Add("ab", "c").Hex());
  EXPECT_NE(ContentHash("d").Add("x", "ab").Add("y", "c").Hex(),
            ContentHash("d").Add("x", "a").Add("y", "bc").Hex());
  EXPECT_NE(ContentHash("one").Add("x", "1").Hex(), ContentHash("two").Add("x", "1").Hex());
  EXPECT_EQ(ContentHash("d").Add("n", 7).Hex(), ContentHash("d").Add("n", "7").Hex());
  std::string s = ContentHash("d").Add("x", "1").Short();
  EXPECT_EQ(s.size(), 16u);
  EXPECT_EQ(s, ContentHash("d").Add("x", "1").Hex().substr(0, 16));
}

TEST(ContentHash, FileFingerprintSeesTheHeadAndTailOfLargeFiles) {
  TempDir dir;
  std::string big(3 << 20, 'x');
  auto write = [&](const std::string& bytes) {
    std::ofstream(dir.path() / "f.bin", std::ios::binary) << bytes;
    return FileFingerprint(dir.path() / "f.bin");
  };
  std::string base = write(big);
  std::string head = big, tail = big, size = big + "x";
  head[10] = 'y';
  tail[big.size() - 10] = 'y';
  EXPECT_NE(write(head), base);
  EXPECT_NE(write(tail), base);
  EXPECT_NE(write(size), base);
  EXPECT_EQ(write(big), base);
  EXPECT_THROW(FileFingerprint(dir.path() / "missing"), InputError);
}

TEST(ContentHash, FolderFingerprintCoversModelFilesOnly) {
  TempDir dir;
  std::ofstream(dir.path() / "config.json") << "{\"a\": 1}";
  std::ofstream(dir.path() / "model.safetensors") << "weights";
  std::string base = FolderFingerprint(dir.path());
  std::ofstream(dir.path() / "notes.log") << "ignored";
  EXPECT_EQ(FolderFingerprint(dir.path()), base);
  std::ofstream(dir.path() / "config.json") << "{\"a\": 2}";
  EXPECT_NE(FolderFingerprint(dir.path()), base);
}

}  // namespace
}  // namespace modelgrow
