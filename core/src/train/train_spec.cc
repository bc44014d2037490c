#include "modelgrow/train/train_spec.h"

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/name_pattern.h"

namespace modelgrow {

OptimSpec OptimSpec::FromOptions(const Options& t) {
  OptimSpec o;
  o.lr = t.Double("lr", o.lr, {.min = 0, .min_exclusive = true});
  o.weight_decay = t.Double("weight_decay", o.weight_decay, {.min = 0});
  o.beta1 = t.Double("beta1", o.beta1, {.min = 0, .max = 1});
  o.beta2 = t.Double("beta2", o.beta2, {.min = 0, .max = 1});
  o.eps = t.Double("eps", o.eps, {.min = 0, .min_exclusive = true});
  o.grad_clip = t.Double("grad_clip", o.grad_clip, {.min = 0});
  o.warmup_steps = t.Int("warmup_steps", o.warmup_steps, {.min = 0});
  o.schedule = t.Choice("schedule", o.schedule, {"constant", "cosine"});
  o.min_lr_ratio = t.Double("min_lr_ratio", o.min_lr_ratio, {.min = 0, .max = 1});
  for (const Options& g : t.TableArray("groups")) {
    ParameterGroupSpec group;
    group.params = g.StringOrList("params", {});
    if (!g.Has("params")) {
      g.Fail("params", "missing required key (a pattern or a list of patterns of parameter names)");
    } else if (group.params.empty()) {
      g.Fail("params", "expected at least one pattern");
    }
    for (const std::string& pattern : group.params) {
      try {
        DottedNamePattern(pattern, NameScope::kModuleAndBelow);
      } catch (const InputError& e) {
        g.Fail("params", e.what());
      }
    }
    group.lr_scale = g.Double("lr_scale", group.lr_scale, {.min = 0});
    if (g.Has("weight_decay")) group.weight_decay = g.Double("weight_decay", 0, {.min = 0});
    g.RejectUnknownKeys();
    o.groups.push_back(std::move(group));
  }
  t.RejectUnknownKeys();
  return o;
}

const std::vector<std::string>& TrainSpec::KeysThatDoNotChangeResults() {
  static const std::vector<std::string> keys = {"log_every", "workers", "checkpoint_every",
                                                "distributed"};
  return keys;
}

TrainSpec TrainSpec::FromOptions(const Options& t, bool pretrain) {
  TrainSpec s;
  s.data = t.RequireString("data");
  s.caption = t.Choice("caption", s.caption, {"short", "detailed", "mixed"});
  s.steps = t.Int("steps", s.steps, {.min = 0});
  s.flops = t.Double("flops", 0, {.min = 0});
  s.batch_size = t.Int("batch_size", s.batch_size, {.min = 1});
  s.grad_accum = t.Int("grad_accum", s.grad_accum, {.min = 1});
  s.optim = OptimSpec::FromOptions(t.Table("optim"));
  Options flow = t.Table("flow");
  s.flow = RectifiedFlowConfig::FromOptions(flow);
  flow.RejectUnknownKeys();
  s.ema_decay = t.Double("ema_decay", s.ema_decay, {.min = 0, .max = 1});
  s.caption_dropout = t.Double("caption_dropout", s.caption_dropout, {.min = 0, .max = 1});
  Options per_condition = t.Table("condition_dropout");
  for (const std::string& name : per_condition.Keys()) {
    s.condition_dropout[name] = per_condition.Double(name, 0, {.min = 0, .max = 1});
  }
  s.frame_mask_prob = t.Double("frame_mask_prob", s.frame_mask_prob, {.min = 0, .max = 1});
  s.precision = t.Choice("precision", s.precision, {"fp32", "bf16"});
  s.grad_checkpointing = t.Bool("grad_checkpointing", s.grad_checkpointing);
  s.checkpoint_every = t.Int("checkpoint_every", s.checkpoint_every, {.min = 0});
  s.log_every = t.Int("log_every", s.log_every, {.min = 1});
  s.distributed = DistributedSpec::FromOptions(t.Table("distributed"));
  s.workers = static_cast<int>(t.Int("workers", s.workers, {.min = 0, .max = 64}));
  if (pretrain) {
    s.init = t.String("init", "");
  } else {
    s.optimizer_state = t.Choice("optimizer_state", s.optimizer_state, {"reset", "carry"});
  }
  return s;
}

}  // namespace modelgrow
