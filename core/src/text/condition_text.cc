#include "modelgrow/text/condition_text.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

ConditionText::ConditionText(std::string name, TextEncoderCache* cache,
                             const std::map<std::string, StoredTextInfo>& stored,
                             bool by_sample_index)
    : name_(std::move(name)), cache_(cache) {
  TextEncoder& encoder = cache_->encoder();
  auto it = stored.find(name_);
  if (it != stored.end()) {
    const StoredTextInfo& info = it->second;
    // Only embeddings the run's own encoder would produce may stand in for it.
    if (!info.encoder_key.empty() && info.encoder_key != encoder.CacheKey()) {
      throw InputError(fmt::format(
          "the data carry text embeddings '{}' made by encoder {}, but this run's [text.{}] "
          "encoder is {}: export the data again with this encoder, or store the embeddings under "
          "another name",
          name_, info.encoder_key, name_, encoder.CacheKey()));
    }
    if (info.length != encoder.max_length() || info.dim != encoder.dim()) {
      throw InputError(fmt::format(
          "the data carry text embeddings '{}' of {} x {}, but the [text.{}] encoder gives {} x "
          "{}",
          name_, info.length, info.dim, name_, encoder.max_length(), encoder.dim()));
    }
    stored_caption_ = info.caption;
  }
  if (by_sample_index) sample_indexed_ = dynamic_cast<SampleIndexedTextEncoder*>(&encoder);
}

TextEncoding ConditionText::Get(const std::vector<std::string>& prompts,
                                const std::vector<std::string>& kinds,
                                const std::vector<int64_t>& indices,
                                const std::map<std::string, TextEncoding>& carried) const {
  const int64_t b = static_cast<int64_t>(prompts.size());
  if (sample_indexed_ != nullptr) return sample_indexed_->EncodeSamples(indices);
  auto stored = carried.end();
  if (stored_caption_) stored = carried.find(name_);
  std::vector<int64_t> from_data, from_encoder;
  for (int64_t i = 0; i < b; ++i) {
    (stored != carried.end() && kinds[i] == *stored_caption_ ? from_data : from_encoder)
        .push_back(i);
  }
  if (from_encoder.empty()) {
    TextEncoding out = stored->second;
    if (!out.mask.defined()) out.mask = at::ones({b, out.embedding.size(1)}, at::kBool);
    return out;
  }
  std::vector<std::string> missing;
  for (int64_t i : from_encoder) missing.push_back(prompts[i]);
  TextEncoding encoded = cache_->Encode(missing);
  if (from_data.empty()) return encoded;
  // Some samples use another caption kind than the stored one (a "mixed" stage).
  TextEncoding out{at::empty({b, encoded.embedding.size(1), encoded.embedding.size(2)}),
                   at::empty({b, encoded.embedding.size(1)}, at::kBool)};
  for (size_t j = 0; j < from_encoder.size(); ++j) {
    out.embedding[from_encoder[j]].copy_(encoded.embedding[j]);
    out.mask[from_encoder[j]].copy_(encoded.mask[j]);
  }
  for (int64_t i : from_data) {
    out.embedding[i].copy_(stored->second.embedding[i]);
    out.mask[i].copy_(stored->second.mask.defined() ? stored->second.mask[i]
                                                    : at::ones({out.mask.size(1)}, at::kBool));
  }
  return out;
}

}  // namespace modelgrow
