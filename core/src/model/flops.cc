#include "modelgrow/model/flops.h"

#include <utility>
#include <vector>

namespace modelgrow {

double ForwardFlops(const STDiT3Config& c, int64_t frames, int64_t height, int64_t width) {
  const auto d = [](int64_t v) { return static_cast<double>(v); };
  const int64_t pt = c.patch_size[0], ph = c.patch_size[1], pw = c.patch_size[2];
  // Inputs are padded up to whole patches, as the patch embedder does.
  const double t = d((frames + pt - 1) / pt);
  const double s = d((height + ph - 1) / ph) * d((width + pw - 1) / pw);
  const double n = t * s;
  const double hidden = d(c.hidden_size), inner = d(c.attention_dim()),
               mlp = d(c.resolved_mlp_hidden()), patch = d(pt * ph * pw);
  std::vector<std::pair<double, double>> conditions = {
      {d(c.model_max_length), d(c.caption_channels)}};
  for (const TextConditionSpec& e : c.extra_conditions)
    conditions.emplace_back(d(e.token_num), d(e.caption_channels));

  double macs = n * d(c.in_channels) * patch * hidden;  // patch embedding
  macs += 2 * (256 * hidden + hidden * hidden);         // timestep and fps embedders
  macs += hidden * 6 * hidden;                          // t_block
  for (const auto& [tokens, channels] : conditions)
    macs += tokens * (channels * hidden + hidden * hidden);  // caption projection
  auto block = [&](bool temporal) {
    double m = n * hidden * 3 * inner + n * inner * hidden;  // qkv, proj
    // Scores and values: each token against the tokens of its frame, or of its column in time.
    m += 2 * n * (temporal ? t : s) * inner;
    for (const auto& [tokens, channels] : conditions) {
      (void)channels;
      m += n * hidden * inner + tokens * hidden * 2 * inner;  // q; kv
      m += 2 * n * tokens * inner;                            // scores, values
      m += n * inner * hidden;                                // proj
    }
    m += 2 * n * hidden * mlp;  // fc1, fc2
    return m;
  };
  macs += d(c.spatial_count()) * block(false) + d(c.temporal_count()) * block(true);
  macs += n * hidden * patch * d(c.out_channels());  // final layer
  return 2 * macs;
}

}  // namespace modelgrow
