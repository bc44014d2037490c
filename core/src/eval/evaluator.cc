#include "modelgrow/eval/evaluator.h"

#include <iostream>
#include <optional>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "modelgrow/base/interruption.h"
#include "modelgrow/diffusion/rectified_flow.h"
#include "modelgrow/eval/frechet.h"
#include "modelgrow/io/gif.h"
#include "modelgrow/io/video_writer.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/progress.h"
#include "modelgrow/text/condition_text.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Evaluation noise and timesteps depend only on the sample index, never on the run, so every
// model is scored on exactly the same draws.
constexpr uint64_t kEvalSeed = 0x5eed'e7a1;

// The classifier ceiling (its accuracy on real held-out videos) below which a category's
// generated-video accuracy is flagged as uninformative (docs/manifests.md).
constexpr double kMinUsefulCeiling = 0.7;

at::Tensor NoiseFor(int64_t index, int64_t salt, at::IntArrayRef shape) {
  at::Generator g = at::detail::createCPUGenerator(kEvalSeed + 7919 * static_cast<uint64_t>(index) +
                                                   104729 * static_cast<uint64_t>(salt));
  return at::randn(shape, g, at::TensorOptions());
}

// The embeddings of samples [start, end) under prompts of one kind: what the samples carry
// (when it encodes that kind) or their encoders' output.
std::vector<TextInput> EncodeAll(const std::vector<ConditionText>& conditions,
                                 const std::vector<Sample>& data, int64_t start, int64_t end,
                                 const std::vector<std::string>& prompts, const std::string& kind,
                                 c10::Device device) {
  std::map<std::string, TextEncoding> carried;
  for (const auto& [name, first] : data[start].text_embeddings) {
    std::vector<at::Tensor> embeddings, masks;
    for (int64_t i = start; i < end; ++i) {
      auto it = data[i].text_embeddings.find(name);
      if (it == data[i].text_embeddings.end()) break;
      embeddings.push_back(it->second.embedding);
      masks.push_back(it->second.mask.defined()
                          ? it->second.mask
                          : at::ones({1, it->second.embedding.size(1)}, at::kBool));
    }
    if (static_cast<int64_t>(embeddings.size()) == end - start) {
      carried[name] = {at::cat(embeddings), at::cat(masks)};
    }
  }
  std::vector<int64_t> indices;
  for (int64_t i = start; i < end; ++i) indices.push_back(data[i].index);
  const std::vector<std::string> kinds(prompts.size(), kind);
  std::vector<TextInput> out;
  for (const ConditionText& condition : conditions) {
    TextEncoding e = condition.Get(prompts, kinds, indices, carried);
    out.push_back(
        {e.embedding.to(device, at::kFloat), e.mask.defined() ? e.mask.to(device) : at::Tensor()});
  }
  return out;
}

std::vector<std::string> Categories(const LabelSchema& schema) {
  std::vector<std::string> out;
  for (const auto& [category, names] : schema.classes) out.push_back(category);
  return out;
}

// The end of the batch from `start`: at most `limit`, and only samples of start's shape (bucketed
// data has several).
int64_t SameShapeEnd(const std::vector<Sample>& data, int64_t start, int64_t limit) {
  int64_t end = start + 1;
  while (end < limit && data[end].video.sizes() == data[start].video.sizes()) ++end;
  return end;
}

// A video a person can look at: pixels as they are, latents decoded through the VAE (undefined
// when there is none). Decoded clips are as long as their latent frames allow.
at::Tensor Viewable(const at::Tensor& video, VideoAutoencoder* vae) {
  if (video.size(0) == 3 || video.size(0) == 1) return video;
  if (vae == nullptr) return {};
  int64_t frames = 0;
  for (int64_t n = 1; n <= 64 * video.size(1) + 64; ++n) {
    if (vae->LatentFrames(n) == video.size(1)) frames = n;
  }
  return vae->Decode(video.unsqueeze(0).to(at::kFloat), frames)[0].clamp(-1, 1).to(at::kCPU);
}

// The batches of samples [0, n): at most `limit` each, of one shape. Batch b is computed by rank
// b % world size.
std::vector<std::pair<int64_t, int64_t>> Batches(const std::vector<Sample>& data, int64_t n,
                                                 int64_t limit) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t start = 0; start < n;) {
    const int64_t end = SameShapeEnd(data, start, std::min(n, start + limit));
    out.emplace_back(start, end);
    start = end;
  }
  return out;
}

}  // namespace

json EvaluateModel(STDiT3Impl& model, const std::vector<TextEncoderCache*>& text,
                   const EvaluationSetup& setup) {
  Communicator single;
  Communicator& comm = setup.comm != nullptr ? *setup.comm : single;
  auto mine = [&](size_t batch) { return static_cast<int>(batch % comm.size()) == comm.rank(); };
  torch::NoGradGuard no_grad;
  model.eval();
  const EvaluateSpec& spec = setup.spec;
  json metrics = json::object(), samples = json::array(), notes = json::array(),
       rewrites = json::array();
  RectifiedFlowConfig flow_config = setup.flow;
  flow_config.num_sampling_steps = spec.sampling_steps;
  flow_config.cfg_scale = spec.cfg_scale;
  RectifiedFlow flow(flow_config);
  AttributeClassifier classifier = setup.classifier;
  const int64_t in_channels = model.config().in_channels;
  // Rank 0 alone writes sample files.
  const bool write_samples = !setup.samples_dir.empty() && comm.is_root();
  if (write_samples) fs::create_directories(setup.samples_dir);

  for (const auto& [domain, pipeline] : setup.domains) {
    const int64_t count = std::max(spec.samples, spec.loss_samples);
    const int64_t n = std::min<int64_t>(count, pipeline->size());
    // Asking for more than a held-out split holds is easy to miss in a table (its numbers look
    // the same), so the counts actually used are said, not taken silently.
    if (count > n) {
      std::vector<std::string> capped;
      if (spec.loss_samples > n) {
        capped.push_back(
            fmt::format("the held-out loss is over {} (loss_samples = {})", n, spec.loss_samples));
      }
      if (spec.samples > n) {
        capped.push_back(fmt::format(
            "at most {} videos are generated per prompt kind (samples = {})", n, spec.samples));
      }
      std::string note =
          fmt::format("domain '{}' holds {} samples, so {}", domain, n, fmt::join(capped, " and "));
      if (comm.is_root()) std::cerr << "warning: " << note << "\n";
      notes.push_back(note);
    }
    std::vector<Sample> data;
    for (int64_t i = 0; i < n; ++i) data.push_back(pipeline->Get(i));
    if (data.empty()) continue;
    // Held-out prompts are not the samples an index-keyed encoder indexes: it is asked by prompt.
    std::vector<ConditionText> conditions;
    const std::vector<std::string> names = model.config().ConditionNames();
    const std::map<std::string, StoredTextInfo> stored = pipeline->stored_text();
    for (size_t k = 0; k < text.size(); ++k) {
      conditions.emplace_back(names[k], text[k], stored, /*by_sample_index=*/false);
    }
    std::vector<std::string> kinds;
    for (const std::string& kind : spec.prompts) {
      // "rewritten" prompts are made from the short captions.
      const std::string source = kind == "rewritten" ? "short" : kind;
      if (kind == "rewritten" && !setup.rewrite) {
        throw RunError("evaluation: prompt kind 'rewritten' without a rewriter");
      }
      if (data[0].captions.count(source)) {
        kinds.push_back(kind);
      } else {
        notes.push_back(fmt::format("domain '{}' has no '{}' captions", domain, source));
      }
    }
    // The prompt of every loaded sample, per kind (the rewritten ones made once, in one call).
    std::map<std::string, std::vector<std::string>> prompts_of;
    for (const std::string& kind : kinds) {
      std::vector<std::string>& list = prompts_of[kind];
      const std::string source = kind == "rewritten" ? "short" : kind;
      for (const Sample& sample : data) list.push_back(sample.captions.at(source));
      if (kind == "rewritten") {
        list = setup.rewrite(list);
        for (int64_t i = 0; i < n; ++i) {
          rewrites.push_back({{"domain", domain},
                              {"index", i},
                              {"short", data[i].captions.at("short")},
                              {"rewritten", list[i]}});
        }
      }
    }

    // Held-out rectified-flow loss: one partial sum per (batch, timestep), summed in that order
    // once every rank's are in, so any number of ranks gives the one-process number exactly.
    const int64_t n_loss = std::min<int64_t>(spec.loss_samples, n);
    const int64_t n_timesteps = static_cast<int64_t>(spec.loss_timesteps.size());
    const std::vector<std::pair<int64_t, int64_t>> loss_batches = Batches(data, n_loss, 16);
    for (const std::string& kind : kinds) {
      at::Tensor partial =
          at::zeros({static_cast<int64_t>(loss_batches.size()), n_timesteps}, at::kDouble);
      int64_t terms = 0;
      for (size_t b = 0; b < loss_batches.size(); ++b) {
        const auto [start, end] = loss_batches[b];
        terms += (end - start) * n_timesteps;
        if (!mine(b)) continue;
        std::vector<at::Tensor> videos, noises;
        std::vector<std::string> prompts;
        std::vector<float> fps;
        for (int64_t i = start; i < end; ++i) {
          videos.push_back(data[i].video);
          noises.push_back(NoiseFor(i, 1, data[i].video.sizes()));
          prompts.push_back(prompts_of.at(kind)[i]);
          fps.push_back(static_cast<float>(data[i].fps));
        }
        ModelInput in;
        in.x = at::stack(videos).to(setup.device, at::kFloat);
        in.fps = at::tensor(fps).to(setup.device);
        in.height = static_cast<double>(data[start].height);
        in.width = static_cast<double>(data[start].width);
        in.text = EncodeAll(conditions, data, start, end, prompts, kind, setup.device);
        at::Tensor noise = at::stack(noises).to(setup.device);
        for (int64_t k = 0; k < n_timesteps; ++k) {
          at::Tensor ts =
              at::full({end - start}, spec.loss_timesteps[k], at::TensorOptions().dtype(at::kFloat))
                  .to(setup.device);
          partial[static_cast<int64_t>(b)][k] =
              flow.TrainingLoss(model, in, noise, ts).sum().item<double>();
        }
      }
      // Other ranks' entries are zero here, and x + 0 is x: the sum is exact.
      comm.AllReduceSum(partial);
      double total = 0;
      const double* p = partial.data_ptr<double>();
      for (int64_t j = 0; j < partial.numel(); ++j) total += p[j];
      if (terms > 0)
        metrics[fmt::format("loss/{}/{}", domain, kind)] = total / static_cast<double>(terms);
      // The same loss at each timestep alone: where training falls short shows by noise level
      // (the layout of a video, its motion included, is decided at high noise).
      for (int64_t k = 0; k < n_timesteps && n_loss > 0; ++k) {
        double at_k = 0;
        for (int64_t b = 0; b < partial.size(0); ++b) at_k += p[b * n_timesteps + k];
        metrics[fmt::format("loss_at/{}/{}/{:g}", domain, kind, spec.loss_timesteps[k])] =
            at_k / static_cast<double>(n_loss);
      }
    }

    // Generation, scored by the attribute classifier.
    const int64_t n_gen = std::min<int64_t>(spec.samples, n);
    bool scored = n_gen > 0 && classifier;
    std::optional<LabelSchema> own = pipeline->label_schema();
    if (scored && (!own || !(*own == classifier->schema()))) {
      notes.push_back(fmt::format(
          "domain '{}': no alignment scores ({})", domain,
          own ? "its label schema differs from the classifier's" : "its data declares no labels"));
      scored = false;
    }
    // Without scores, the grid's few samples are still made, for people to look at.
    const int64_t n_make =
        scored ? n_gen : (setup.samples_dir.empty() ? 0 : std::min<int64_t>(spec.grid_prompts, n));
    if (n_make == 0) continue;
    std::vector<std::map<std::string, int64_t>> targets;
    at::Tensor real_features;
    if (scored) {
      const LabelSchema& schema = classifier->schema();
      for (int64_t i = 0; i < n; ++i) targets.push_back(AllTargets(schema, data[i].targets));
      std::vector<at::Tensor> real_list;
      for (int64_t i = 0; i < n; ++i) real_list.push_back(data[i].video);
      // The ceiling reads every loaded real video (cheap, and steadier than the generated subset).
      at::Tensor real_all = at::stack(real_list).to(at::kFloat);
      for (const auto& [category, accuracy] :
           Accuracy(classifier, real_all, targets, Categories(schema))) {
        metrics[fmt::format("ceiling/{}/{}", domain, category)] = accuracy;
        // Below this the classifier misreads real videos too often for its verdict on generated
        // ones to separate anything (a briefly trained one gives every model the same score).
        if (category != "mean" && accuracy < kMinUsefulCeiling) {
          std::string note = fmt::format(
              "domain '{}': the attribute classifier reads '{}' correctly on only {:.0f}% of "
              "real videos, so generated-video accuracy for it says little; train it longer "
              "(classifier.steps)",
              domain, category, 100 * accuracy);
          if (comm.is_root()) std::cerr << "warning: " << note << "\n";
          notes.push_back(note);
        }
      }
      targets.resize(n_gen);
      real_features = classifier->Features(real_all.slice(0, 0, n_gen));
    }

    for (const std::string& kind : kinds) {
      comm.ThrowIfStopAgreed(fmt::format("stopped while evaluating {}/{}", domain, kind));
      const std::vector<std::pair<int64_t, int64_t>> batches = Batches(data, n_make, 8);
      int64_t own = 0;
      for (size_t b = 0; b < batches.size(); ++b) {
        if (mine(b)) own += batches[b].second - batches[b].first;
      }
      std::string label = fmt::format("sample {}/{}", domain, kind);
      if (comm.distributed()) label += fmt::format(" (rank 0's {} of {})", own, n_make);
      std::optional<Progress> progress;
      if (comm.is_root()) progress.emplace(label, own);
      std::vector<at::Tensor> generated(batches.size());
      int64_t done = 0;
      for (size_t b = 0; b < batches.size(); ++b) {
        if (!mine(b)) continue;
        const auto [start, end] = batches[b];
        std::vector<std::string> prompts;
        std::vector<at::Tensor> noises;
        std::vector<float> fps;
        for (int64_t i = start; i < end; ++i) {
          prompts.push_back(prompts_of.at(kind)[i]);
          noises.push_back(NoiseFor(i, 2, data[i].video.sizes()));
          fps.push_back(static_cast<float>(data[i].fps));
        }
        at::Tensor z = flow.Sample(
            model, at::stack(noises).to(setup.device),
            EncodeAll(conditions, data, start, end, prompts, kind, setup.device), at::tensor(fps),
            static_cast<double>(data[start].height), static_cast<double>(data[start].width));
        at::Tensor v = RectifiedFlow::Velocity(z, in_channels);
        // Pixels live in [-1, 1]; latents have no such range.
        if (in_channels == 3 || in_channels == 1) v = v.clamp(-1, 1);
        generated[b] = v.to(at::kCPU, at::kFloat).contiguous();
        done += end - start;
        if (progress) progress->Update(done);
      }
      if (progress) progress->Finish();
      // Every batch from the rank that made it (its shape is the samples' own).
      for (size_t b = 0; b < batches.size() && comm.distributed(); ++b) {
        const int owner = static_cast<int>(b % comm.size());
        if (owner != comm.rank()) {
          std::vector<int64_t> shape = data[batches[b].first].video.sizes().vec();
          shape.insert(shape.begin(), batches[b].second - batches[b].first);
          generated[b] = at::empty(shape, at::kFloat);
        }
        comm.Broadcast(generated[b], owner);
      }
      std::vector<at::Tensor> videos;  // one per sample: bucketed data has several shapes
      for (const at::Tensor& batch : generated) {
        for (int64_t k = 0; k < batch.size(0); ++k) videos.push_back(batch[k]);
      }
      if (scored) {
        const LabelSchema& schema = classifier->schema();
        at::Tensor stacked = at::stack(videos);
        // A rewritten prompt is scored on what the user's short prompt stated: whatever else the
        // rewriter adds is its guess.
        auto stated = schema.stated_by.find(kind == "rewritten" ? "short" : kind);
        const std::vector<std::string> categories =
            stated != schema.stated_by.end() ? stated->second : Categories(schema);
        for (const auto& [category, accuracy] :
             Accuracy(classifier, stacked, targets, categories)) {
          metrics[fmt::format("acc/{}/{}/{}", domain, kind, category)] = accuracy;
        }
        if (n_gen >= 2) {
          metrics[fmt::format("fd/{}/{}", domain, kind)] =
              FrechetDistance(classifier->Features(stacked), real_features);
        }
      }
      if (write_samples) {
        if (in_channels != 3 && in_channels != 1 && !setup.vae)
          notes.push_back(fmt::format(
              "domain '{}': latent samples are not written as videos (the manifest has no [vae])",
              domain));
        for (int64_t i = 0; i < std::min<int64_t>(spec.grid_prompts, n_make); ++i) {
          at::Tensor generated = Viewable(videos[i], setup.vae.get());
          if (!generated.defined()) break;
          // Decoded latents are full-size frames; tiny pixel videos are enlarged to be seen.
          const int scale = generated.size(2) >= 96 ? 1 : 4;
          std::string gen_name =
              fmt::format("{}{}_{}_{}.gif", setup.sample_prefix, domain, kind, i);
          std::string real_name = fmt::format("real_{}_{}.gif", domain, i);
          WriteGif(setup.samples_dir / gen_name, generated, {data[i].fps, scale});
          json entry = {{"domain", domain},
                        {"kind", kind},
                        {"index", i},
                        {"prompt", prompts_of.at(kind)[i]},
                        {"generated", gen_name},
                        {"real", real_name}};
          if (setup.vae && CanWriteVideo(".mp4")) {
            std::string mp4 = fs::path(gen_name).replace_extension(".mp4").string();
            WriteVideo(setup.samples_dir / mp4, generated, {data[i].fps, 1});
            entry["generated_video"] = mp4;
          }
          if (!fs::exists(setup.samples_dir / real_name)) {
            at::Tensor real = Viewable(data[i].video, setup.vae.get());
            if (real.defined()) WriteGif(setup.samples_dir / real_name, real, {data[i].fps, scale});
          }
          samples.push_back(entry);
        }
      }
    }
  }
  json out = {{"metrics", metrics}, {"samples", samples}, {"notes", notes}};
  if (!rewrites.empty()) out["rewrites"] = rewrites;
  return out;
}

}  // namespace modelgrow
