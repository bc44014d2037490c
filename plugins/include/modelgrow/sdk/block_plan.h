// Depth growth as a plan: the forward order the grown model should have, each entry an original
// block (kept with its tensors, renumbered), a copy of one, or a freshly initialised block.
// Stacking operators (ModelGrow's insert/prefix/suffix, LLaMA Pro, G_stack, and whatever a
// researcher writes next: SOLAR's depth up-scaling, middle stacking, ...) only decide the plan;
// ApplyBlockPlan builds it and describes the result in the same way for all of them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelgrow/sdk/model.h"

namespace modelgrow {

class Options;

// Which block lists a depth operator grows. kBoth treats a (spatial i, temporal i) pair as one
// block, as the ModelGrow paper's figure does for STDiT.
enum class BlockLists { kBoth, kSpatial, kTemporal };
const char* BlockListsName(BlockLists lists);  // "both", "spatial", "temporal"
// Reads option `key` ("both" | "spatial" | "temporal", default "both").
BlockLists ReadBlockLists(const Options& options, std::string_view key = "lists");

// The units a depth operator counts (its N) in forward order, each as the blocks it holds in
// forward order: pairs (s_i, t_i) for kBoth, single blocks of one list otherwise. kBoth needs
// equally long lists in the default alternation s0 t0 s1 t1 ...; an InputError says so (and
// suggests growing one list) when the model's order is another, or when the list is empty.
std::vector<std::vector<BlockRef>> DepthUnits(const STDiT3Impl& model, BlockLists lists);

struct PlannedBlock {
  enum class Kind { kOriginal, kCopy, kFresh };
  Kind kind = Kind::kOriginal;
  // kOriginal, kCopy: the block (its list and its index before growth). kFresh: `temporal` says
  // which list; `index` names the block whose place it takes in the layout (-1: none).
  BlockRef block;
};

// The model's current forward order, every entry an original.
std::vector<PlannedBlock> CurrentPlan(const STDiT3Impl& model);

// `count` copies of unit `source_unit`, placed right after unit `after_unit` (its last block in
// the forward order); after_unit = -1 places them before every block, after_unit = units.size()
// after every block. Insertions at the same place keep the order given.
struct UnitInsertion {
  int64_t after_unit = 0;
  int64_t source_unit = 0;
  int64_t count = 1;
};
// The current forward order with copies inserted (kCopy entries). InputError for a unit index
// out of range.
std::vector<PlannedBlock> PlanWithInsertions(const STDiT3Impl& model, BlockLists lists,
                                             const std::vector<UnitInsertion>& insertions);

// ModelGrow's stacking layouts over N units (stack and msg share them), as insertions:
//   insert: N/M groups, each its M originals followed by P·M/N copies of the group's last one
//   prefix: P copies of the first unit, then the N originals
//   suffix: the N originals, then P copies of the last unit
// InputError (naming units by `unit_noun`, e.g. "(spatial, temporal) block pairs") when M does
// not divide N or P·M/N is not whole.
std::vector<UnitInsertion> StackingInsertions(int64_t n, const std::string& placement,
                                              int64_t new_units, int64_t group,
                                              const std::string& unit_noun);

// How the kCopy entries of a plan are initialised.
enum class NewBlockInit {
  kZero,    // copy, then zero the residual outputs: the block is the identity (exact)
  kCopy,    // plain copy (the block's function is applied twice: not preserving)
  kRandom,  // a fresh block as a new model has it (see FreshBlock), seeded; not preserving
};

struct BlockPlanResult {
  // {"layout": ["s0", "t0", "s0'", "t0'", ...] (forward order; ' marks a copy of that original,
  //  s* / t* a fresh block), "copied_from": {new key prefix: old key prefix or "random"},
  //  "renamed": {old prefix: new prefix} for originals whose index changed, "dropped": [...],
  //  "blocks_added": number of new blocks (spatial and temporal counted apart)}.
  nlohmann::json details;
  std::vector<STDiT3Block> new_blocks;  // copies and fresh blocks, in forward order
};

// Rebuilds the model's block lists in the planned forward order; keys are renumbered in order of
// appearance. Originals keep their tensors (and so their identity: optimizer state follows them);
// an original may appear at most once and may be left out. New blocks copy their source's
// trainable flags. Throws InputError for an invalid plan before changing anything.
BlockPlanResult ApplyBlockPlan(STDiT3Impl& model, const std::vector<PlannedBlock>& plan,
                               NewBlockInit init, uint64_t seed);

// Zeroes the weight and bias (and LoRA B) of every residual output of the block (attn.proj,
// each cross-attention's proj, mlp.fc2), so the block computes the identity. Zeroing adaLN gate
// rows would not do it in STDiT3: the gates are the shared t_block output plus the table.
void ZeroResidualOutputs(STDiT3BlockImpl& block);

// A new block for `model` as its constructor would make it: Xavier-uniform linears with zero
// biases, scale_shift_table ~ randn / sqrt(C), and (temporal blocks only, as Open-Sora starts
// them) zero output projections. Drawn from `seed`; the global RNG is left as it was.
STDiT3Block FreshBlock(const STDiT3Impl& model, bool temporal, uint64_t seed);

// "spatial_blocks.3" / "temporal_blocks.3".
std::string BlockKeyPrefix(const BlockRef& ref);

}  // namespace modelgrow
