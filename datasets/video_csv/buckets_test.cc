// Open-Sora's bucket rule (buckets.h): resolution by area, frame count, keep probability, aspect
// ratio; and the table's option errors.
#include <map>

#include <gtest/gtest.h>

#include "buckets.h"
#include "test_util.h"

namespace modelgrow::video_csv {
namespace {

BucketTable Table(const std::string& toml) {
  Options o = Options::ParseString(toml, "buckets.toml");
  BucketTable table = BucketTable::FromOptions(o);
  o.ThrowIfProblems();
  return table;
}

TEST(Buckets, FollowOpenSorasRule) {
  BucketTable t = Table(R"([buckets]
"240p" = { "1" = 1.0, "51" = 1.0, "102" = 1.0 }
"360p" = { "51" = 1.0 })");
  // The largest resolution the video reaches, the longest frame bucket it fills there.
  auto b = t.Assign(120, 720, 1280, 1, 0, 0);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->Name(), "360p/51/0.56");
  EXPECT_EQ(b->height, 360);
  EXPECT_EQ(b->width, 640);
  // Too few frames for any video bucket (and not an image): no bucket.
  b = t.Assign(40, 720, 1280, 1, 0, 0);
  EXPECT_FALSE(b);
  b = t.Assign(110, 300, 400, 1, 0, 0);  // 120000 pixels: 240p (102240) but not 360p
  ASSERT_TRUE(b);
  EXPECT_EQ(b->Name(), "240p/102/0.75");
  EXPECT_EQ(b->height, 276);
  EXPECT_EQ(b->width, 368);
  // frame_interval 2: 102 frames every 2 need 203.
  EXPECT_EQ(t.Assign(110, 300, 400, 2, 0, 0)->frames, 51);
  // An image goes to the 1-frame bucket only; portrait ratios exist too.
  b = t.Assign(1, 1280, 720, 1, 0, 0);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->Name(), "240p/1/1.78");
  // Below 80 % of every area: no bucket.
  EXPECT_FALSE(t.Assign(100, 200, 300, 1, 0, 0));
}

TEST(Buckets, KeepProbabilitiesAreDrawnPerRowAndSeed) {
  BucketTable t = Table(R"(buckets = { "144p" = { "16" = [0.25, 8] } })");
  int kept = 0;
  for (int64_t i = 0; i < 2000; ++i) kept += t.Assign(16, 144, 256, 1, 7, i).has_value();
  EXPECT_NEAR(kept / 2000.0, 0.25, 0.03);
  for (int64_t i = 0; i < 50; ++i)
    EXPECT_EQ(t.Assign(16, 144, 256, 1, 7, i).has_value(),
              t.Assign(16, 144, 256, 1, 7, i).has_value());
}

// Open-Sora v1.2's stage configs: square-area resolutions ("256"), (p, batch size) values, p as
// (keep probability, time probability), and frame counts switched off with 0.
TEST(Buckets, ReadOpenSoraV12StageConfigs) {
  BucketTable t = Table(R"([buckets]
"144p" = { "1" = [1.0, 475], "51" = [1.0, 51], "102" = [[1.0, 0.33], 27] }
"256" = { "1" = [0.4, 297], "51" = [0.5, 20], "102" = [[0.5, 0.33], 10], "408" = [0.0, 1] })");
  std::map<std::string, int> counts;
  const int rows = 4000;
  for (int64_t i = 0; i < rows; ++i) counts[t.Assign(200, 256, 256, 1, 3, i)->Name()] += 1;
  // 102 is taken a third of the time, else 51; "256" keeps half, the rest go to 144p. (Open-Sora
  // names the square ratio of its 256/512/1024 tables "1.0".)
  EXPECT_EQ(counts.size(), 4u);
  EXPECT_NEAR(counts["256/102/1.0"] / double(rows), 0.33 * 0.5, 0.03);
  EXPECT_NEAR(counts["256/51/1.0"] / double(rows), 0.67 * 0.5, 0.03);
  EXPECT_NEAR(counts["144p/102/1.00"] / double(rows), 0.33 * 0.5, 0.03);
  EXPECT_NEAR(counts["144p/51/1.00"] / double(rows), 0.67 * 0.5, 0.03);
  // As in Open-Sora, a clip long enough for a frame count that is off (0) is not kept at that
  // resolution at all: the next smaller one takes it.
  for (int64_t i = 0; i < 20; ++i) EXPECT_EQ(t.Assign(500, 256, 256, 1, 3, i)->resolution, "144p");
  auto image = t.Assign(1, 512, 512, 1, 3, 0);
  ASSERT_TRUE(image);
  EXPECT_EQ(image->frames, 1);
  auto b = Table(R"(buckets = { "512" = { "51" = 1.0 } })").Assign(60, 720, 1280, 1, 0, 0);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->Name(), "512/51/0.57");  // 384x672, the closest of its ratios
  EXPECT_EQ(b->height, 384);
}

TEST(Buckets, CustomResolutionsAndTheirArea) {
  BucketTable t = Table(R"(buckets = { tiny = { "8" = 1.0 } }
resolutions = { tiny = { area = 512, "0.50" = [16, 32], "2.00" = [32, 16] } })");
  EXPECT_EQ(t.Assign(10, 24, 32, 1, 0, 0)->Name(), "tiny/8/0.50");
  EXPECT_EQ(t.Assign(8, 32, 24, 1, 0, 0)->Name(), "tiny/8/2.00");
  EXPECT_FALSE(t.Assign(8, 16, 16, 1, 0, 0));  // 256 < 0.8 * 512
}

TEST(Buckets, BadTablesAreNamed) {
  EXPECT_THROW_WITH(Table(R"(buckets = { "999p" = { "1" = 1.0 } })"), ValidationError, "999p",
                    "unknown resolution", "240p");
  EXPECT_THROW_WITH(Table(R"(buckets = { "240p" = { "many" = 1.0 } })"), ValidationError,
                    "a frame count");
  EXPECT_THROW_WITH(Table(R"(buckets = { "240p" = { "51" = 1.5 } })"), ValidationError,
                    "keep probability");
  EXPECT_THROW_WITH(Table(R"(buckets = { "240p" = { "51" = [[1.0, -0.5], 4] } })"), ValidationError,
                    "time probability");
  EXPECT_THROW_WITH(Table(R"(buckets = { "240p" = { "51" = "often" } })"), ValidationError,
                    "bucket_config");
  EXPECT_THROW_WITH(Table(R"(buckets = { x = { "1" = 1.0 } }
resolutions = { x = { "1.00" = [16] } })"),
                    ValidationError, "[height, width]");
  EXPECT_TRUE(Table("").empty());
}

}  // namespace
}  // namespace modelgrow::video_csv
