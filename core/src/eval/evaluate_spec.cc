#include "modelgrow/eval/evaluate_spec.h"

#include <fmt/format.h>

namespace modelgrow {

ClassifierSpec ClassifierSpec::FromOptions(const Options& c) {
  ClassifierSpec s;
  s.data = c.StringOrList("data", {});
  if (s.data.empty())
    c.Fail("data", "name the data table(s) of real videos the classifier learns from");
  s.steps = c.Int("steps", s.steps, {.min = 1});
  s.batch_size = c.Int("batch_size", s.batch_size, {.min = 1});
  s.lr = c.Double("lr", s.lr, {.min = 0, .min_exclusive = true});
  s.width = c.Int("width", s.width, {.min = 4, .max = 1024});
  s.seed = static_cast<uint64_t>(c.Int("seed", static_cast<int64_t>(s.seed), {.min = 0}));
  c.RejectUnknownKeys();
  return s;
}

EvaluateSpec EvaluateSpec::FromOptions(const Options& t) {
  EvaluateSpec e;
  Options domains = t.Table("domains");
  for (const std::string& domain : domains.Keys()) e.domains[domain] = domains.String(domain, "");
  if (e.domains.empty()) t.Fail("domains", "needs at least one domain = \"<held-out data id>\"");
  domains.RejectUnknownKeys();
  e.prompts = t.StringList("prompts", e.prompts);
  bool rewritten = false;
  for (const std::string& p : e.prompts) {
    if (p != "short" && p != "detailed" && p != "rewritten") {
      t.Fail("prompts",
             fmt::format("prompt kinds are 'short', 'detailed' and 'rewritten', not '{}'", p));
    }
    rewritten = rewritten || p == "rewritten";
  }
  if (t.Has("rewrite")) {
    Options r = t.Table("rewrite");
    RewriteSpec rewrite;
    rewrite.text = r.RequireString("text");
    // The rewriter's own options are checked by its plugin (Manifest::CheckPlugins).
    for (const std::string& k : r.Keys()) r.Accept(k);
    rewrite.options = r.Subset({"text"});
    e.rewrite = rewrite;
    if (!rewritten) {
      t.Fail("rewrite", "is used only by the prompt kind 'rewritten', which `prompts` lacks");
    }
  } else if (rewritten) {
    t.Fail("prompts",
           "'rewritten' needs a rewrite = {text = \"<text id>\", ...} table naming the model "
           "that rewrites");
  }
  e.samples = t.Int("samples", e.samples, {.min = 0, .max = 100000});
  e.sampling_steps = t.Int("sampling_steps", e.sampling_steps, {.min = 1, .max = 1000});
  e.cfg_scale = t.Double("cfg_scale", e.cfg_scale, {.min = 0});
  e.loss_samples = t.Int("loss_samples", e.loss_samples, {.min = 0});
  e.loss_timesteps = t.DoubleList("loss_timesteps", e.loss_timesteps);
  for (double ts : e.loss_timesteps) {
    if (!(ts >= 0 && ts <= 1000)) {
      t.Fail("loss_timesteps", fmt::format("{} is outside [0, 1000]", ts));
    }
  }
  e.baseline = t.String("baseline", "");
  e.weights = t.Choice("weights", e.weights, {"ema", "raw"});
  e.grid_prompts = t.Int("grid_prompts", e.grid_prompts, {.min = 0, .max = 64});
  // Without a classifier (data without labels, latents of clips), evaluation measures the
  // held-out loss and still makes the grid's samples.
  if (t.Has("classifier")) e.classifier = ClassifierSpec::FromOptions(t.Table("classifier"));
  return e;
}

}  // namespace modelgrow
