#include "modelgrow/sdk/block_plan.h"

#include <map>
#include <set>

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/sdk/scoped_seed.h"

namespace modelgrow {

using json = nlohmann::json;

const char* BlockListsName(BlockLists lists) {
  switch (lists) {
    case BlockLists::kBoth:
      return "both";
    case BlockLists::kSpatial:
      return "spatial";
    case BlockLists::kTemporal:
      return "temporal";
  }
  return "unknown";
}

BlockLists ReadBlockLists(const Options& options, std::string_view key) {
  std::string value = options.Choice(key, "both", {"both", "spatial", "temporal"});
  if (value == "spatial") return BlockLists::kSpatial;
  if (value == "temporal") return BlockLists::kTemporal;
  return BlockLists::kBoth;
}

std::string BlockKeyPrefix(const BlockRef& ref) {
  return fmt::format("{}_blocks.{}", ref.temporal ? "temporal" : "spatial", ref.index);
}

namespace {

std::string ShortName(const BlockRef& ref) {
  return fmt::format("{}{}", ref.temporal ? 't' : 's', ref.index);
}

}  // namespace

std::vector<std::vector<BlockRef>> DepthUnits(const STDiT3Impl& model, BlockLists lists) {
  const STDiT3Config& config = model.config();
  std::vector<std::vector<BlockRef>> units;
  if (lists == BlockLists::kBoth) {
    if (!config.IsDefaultOrder()) {
      throw InputError(fmt::format(
          "lists = \"both\" grows (spatial i, temporal i) pairs, which needs equally long block "
          "lists in the default order s0 t0 s1 t1 ...; this model has {} spatial and {} temporal "
          "blocks{}; grow one list with lists = \"spatial\" or \"temporal\"",
          config.spatial_count(), config.temporal_count(),
          config.spatial_count() == config.temporal_count() ? " in another order" : ""));
    }
    for (int64_t i = 0; i < config.spatial_count(); ++i) {
      units.push_back({BlockRef{false, i}, BlockRef{true, i}});
    }
  } else {
    bool temporal = lists == BlockLists::kTemporal;
    for (const BlockRef& ref : config.ResolvedOrder()) {
      if (ref.temporal == temporal) units.push_back({ref});
    }
  }
  if (units.empty()) {
    throw InputError(
        fmt::format("the model has no {} blocks to grow from",
                    lists == BlockLists::kBoth ? "spatial/temporal" : BlockListsName(lists)));
  }
  return units;
}

std::vector<PlannedBlock> CurrentPlan(const STDiT3Impl& model) {
  std::vector<PlannedBlock> plan;
  for (const BlockRef& ref : model.config().ResolvedOrder()) {
    plan.push_back({PlannedBlock::Kind::kOriginal, ref});
  }
  return plan;
}

std::vector<PlannedBlock> PlanWithInsertions(const STDiT3Impl& model, BlockLists lists,
                                             const std::vector<UnitInsertion>& insertions) {
  std::vector<std::vector<BlockRef>> units = DepthUnits(model, lists);
  const int64_t n = static_cast<int64_t>(units.size());
  // Copies go after the last block of their anchor unit, in the model's forward order.
  std::map<int64_t, std::vector<PlannedBlock>> after;  // key: position in the current order
  std::vector<PlannedBlock> before_all, after_all;
  std::vector<BlockRef> order = model.config().ResolvedOrder();
  std::map<std::pair<bool, int64_t>, int64_t> position;
  for (size_t i = 0; i < order.size(); ++i) {
    position[{order[i].temporal, order[i].index}] = static_cast<int64_t>(i);
  }
  for (const UnitInsertion& ins : insertions) {
    if (ins.source_unit < 0 || ins.source_unit >= n || ins.after_unit < -1 || ins.after_unit > n ||
        ins.count < 0) {
      throw InputError(fmt::format(
          "insertion of {} copies of unit {} after unit {} is out of range (the model has {} "
          "units)",
          ins.count, ins.source_unit, ins.after_unit, n));
    }
    std::vector<PlannedBlock>* target;
    if (ins.after_unit == -1) {
      target = &before_all;
    } else if (ins.after_unit == n) {
      target = &after_all;
    } else {
      int64_t last = -1;
      for (const BlockRef& ref : units[ins.after_unit]) {
        last = std::max(last, position.at({ref.temporal, ref.index}));
      }
      target = &after[last];
    }
    for (int64_t c = 0; c < ins.count; ++c) {
      for (const BlockRef& ref : units[ins.source_unit]) {
        target->push_back({PlannedBlock::Kind::kCopy, ref});
      }
    }
  }
  std::vector<PlannedBlock> plan = before_all;
  for (size_t i = 0; i < order.size(); ++i) {
    plan.push_back({PlannedBlock::Kind::kOriginal, order[i]});
    auto it = after.find(static_cast<int64_t>(i));
    if (it != after.end()) plan.insert(plan.end(), it->second.begin(), it->second.end());
  }
  plan.insert(plan.end(), after_all.begin(), after_all.end());
  return plan;
}

void ZeroResidualOutputs(STDiT3BlockImpl& block) {
  torch::NoGradGuard no_grad;
  for (Linear& linear : block.ResidualOutputs()) {
    linear->weight.zero_();
    if (linear->bias.defined()) linear->bias.zero_();
    // With LoRA, the layer's output is W x + b + s B A x: B = 0 removes the adapter's part and
    // keeps A, so the adapter can still learn (as PEFT starts one).
    for (auto& item : linear->named_parameters()) {
      if (item.key() == "lora_B.weight") item.value().zero_();
    }
  }
}

STDiT3Block FreshBlock(const STDiT3Impl& model, bool temporal, uint64_t seed) {
  STDiT3Block block{nullptr};
  {
    // Built on the CPU, then moved: the same seed gives the same block on every device.
    ScopedSeed seeded(c10::Device(c10::DeviceType::CPU), seed);
    block = STDiT3Block(model.MakeBlockSpec(temporal));
  }
  if (temporal) {
    // Open-Sora's initialize_temporal(): temporal blocks start as the identity.
    torch::NoGradGuard no_grad;
    block->attn->proj->weight.zero_();
    for (auto& cross : block->cross_attns) cross->proj->weight.zero_();
    block->mlp->fc2->weight.zero_();
  }
  block->to(model.device());
  return block;
}

BlockPlanResult ApplyBlockPlan(STDiT3Impl& model, const std::vector<PlannedBlock>& plan,
                               NewBlockInit init, uint64_t seed) {
  const auto& spatial = model.spatial_blocks();
  const auto& temporal = model.temporal_blocks();
  auto list_of = [&](bool t) -> const std::vector<STDiT3Block>& { return t ? temporal : spatial; };

  // Validate everything first: nothing changes when the plan is impossible.
  std::set<std::pair<bool, int64_t>> used;
  for (const PlannedBlock& p : plan) {
    if (p.kind == PlannedBlock::Kind::kFresh) continue;
    const auto& list = list_of(p.block.temporal);
    if (p.block.index < 0 || p.block.index >= static_cast<int64_t>(list.size())) {
      throw InputError(fmt::format("block plan names {}, which the model does not have",
                                   BlockKeyPrefix(p.block)));
    }
    if (p.kind == PlannedBlock::Kind::kOriginal &&
        !used.insert({p.block.temporal, p.block.index}).second) {
      throw InputError(
          fmt::format("block plan uses the original {} twice (a block can appear once; use a copy)",
                      BlockKeyPrefix(p.block)));
    }
  }

  BlockPlanResult result;
  std::vector<STDiT3Block> new_spatial, new_temporal;
  std::vector<BlockRef> order;
  json layout = json::array();
  json copied_from = json::object();
  json renamed = json::object();
  uint64_t fresh_count = 0;
  for (const PlannedBlock& p : plan) {
    bool t = p.block.temporal;
    auto& target = t ? new_temporal : new_spatial;
    BlockRef new_ref{t, static_cast<int64_t>(target.size())};
    STDiT3Block block{nullptr};
    const bool fresh = p.kind == PlannedBlock::Kind::kFresh ||
                       (p.kind == PlannedBlock::Kind::kCopy && init == NewBlockInit::kRandom);
    if (p.kind == PlannedBlock::Kind::kOriginal) {
      block = list_of(t)[p.block.index];
      layout.push_back(ShortName(p.block));
      if (!(new_ref == p.block)) renamed[BlockKeyPrefix(p.block)] = BlockKeyPrefix(new_ref);
    } else if (fresh) {
      // Each fresh block its own stream, so adding one never changes the others.
      block = FreshBlock(model, t, seed * 7919ULL + fresh_count++);
      layout.push_back(std::string(t ? "t*" : "s*"));
      copied_from[BlockKeyPrefix(new_ref)] = "random";
    } else {
      block = STDiT3Block(list_of(t)[p.block.index]->Copy());
      block->to(model.device());
      if (init == NewBlockInit::kZero) ZeroResidualOutputs(*block);
      layout.push_back(ShortName(p.block) + "'");
      copied_from[BlockKeyPrefix(new_ref)] = BlockKeyPrefix(p.block);
    }
    if (p.kind != PlannedBlock::Kind::kOriginal) result.new_blocks.push_back(block);
    target.push_back(block);
    order.push_back(new_ref);
  }
  json dropped = json::array();
  for (bool t : {false, true}) {
    for (int64_t i = 0; i < static_cast<int64_t>(list_of(t).size()); ++i) {
      if (!used.contains({t, i})) dropped.push_back(BlockKeyPrefix({t, i}));
    }
  }
  model.SetBlocks(std::move(new_spatial), std::move(new_temporal), std::move(order));
  result.details = {{"layout", layout},
                    {"copied_from", copied_from},
                    {"renamed", renamed},
                    {"dropped", dropped},
                    {"blocks_added", static_cast<int64_t>(result.new_blocks.size())}};
  return result;
}

std::vector<UnitInsertion> StackingInsertions(int64_t n, const std::string& placement, int64_t p,
                                              int64_t group, const std::string& unit_noun) {
  if (n <= 0) throw InputError(fmt::format("there are no {} to stack", unit_noun));
  std::vector<UnitInsertion> insertions;
  if (placement == "prefix") {
    insertions.push_back({-1, 0, p});
  } else if (placement == "suffix") {
    insertions.push_back({n, n - 1, p});
  } else {
    if (n % group != 0) {
      throw InputError(fmt::format(
          "group = {} does not divide the model's N = {} {}: insert stacking needs N/M whole "
          "groups",
          group, n, unit_noun));
    }
    if ((p * group) % n != 0) {
      throw InputError(fmt::format(
          "new_blocks = {} does not fit N = {} {} and group = {}: each of the N/M = {} groups "
          "gets P·M/N = {}·{}/{} new blocks, which must be a whole number (P a multiple of {})",
          p, n, unit_noun, group, n / group, p, group, n, n / group));
    }
    const int64_t per_group = p * group / n;
    for (int64_t g = 0; g < n / group; ++g) {
      const int64_t last = (g + 1) * group - 1;
      insertions.push_back({last, last, per_group});
    }
  }
  return insertions;
}

}  // namespace modelgrow
