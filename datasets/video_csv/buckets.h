// Open-Sora's buckets (opensora/datasets/bucket.py, aspect.py, v1.2.0): every clip is assigned a
// resolution, a frame count and an aspect ratio from a bucket table, and decoded at that bucket's
// size, so a data set keeps many shapes and the loader batches each shape on its own.
//
//   buckets = { "240p" = { "1" = 1.0, "51" = 1.0, "102" = 0.5 }, "360p" = { "51" = 0.3 } }
//   resolutions = { tiny = { area = 512, "0.50" = [16, 32], "2.00" = [32, 16] } }   # optional
//
// `buckets` is Open-Sora's bucket_config: resolution -> {frame count: p or [p, batch size]}, p
// the keep probability or [keep probability, time probability] (batch sizes are the stage's, one
// for all buckets).
// Resolutions are Open-Sora's (144p, 240p, 360p, 480p, 720p, 1080p, with their aspect-ratio
// tables) or ones defined in `resolutions`: an area and H/W ratio -> [height, width].
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "modelgrow/sdk/options.h"

namespace modelgrow::video_csv {

struct BucketChoice {
  std::string resolution;
  int64_t frames = 0;
  std::string ratio;  // "0.56": height / width, as Open-Sora names them
  int64_t height = 0, width = 0;
  std::string Name() const;  // "240p/51/0.56"
};

class BucketTable {
 public:
  // Reads `buckets` and `resolutions`; problems are recorded on `options`. Empty when there is no
  // `buckets` key.
  static BucketTable FromOptions(const Options& options);
  bool empty() const { return resolutions_.empty(); }

  // The bucket of a clip of `frames` frames of height x width, or nullopt when it fits none or
  // the keep probabilities leave it out. Open-Sora's rule: resolutions from the largest area
  // down, one the clip's area reaches 80 % of; there the largest frame count the clip can fill
  // (an image goes to 1 only; a frame count with a time probability is passed over for the next
  // shorter one with 1 - that probability), kept with its keep probability, else the next
  // resolution; the aspect ratio closest to the clip's. Draws come from seed and index.
  std::optional<BucketChoice> Assign(int64_t frames, int64_t height, int64_t width,
                                     int64_t frame_interval, uint64_t seed, int64_t index) const;

 private:
  struct FrameBucket {
    int64_t frames;
    double keep;  // kept at this resolution with this probability, else the next one is tried
    double time;  // this frame count is passed over for a shorter one with 1 - this
  };
  struct Size {
    std::string ratio;
    int64_t height, width;
  };
  struct Resolution {
    std::string name;
    int64_t area = 0;
    std::vector<Size> sizes;
    std::vector<FrameBucket> frames;  // largest first
  };
  std::vector<Resolution> resolutions_;  // largest area first
};

}  // namespace modelgrow::video_csv
