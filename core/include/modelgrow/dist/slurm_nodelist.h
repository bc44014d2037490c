// Slurm's compressed host lists (SLURM_JOB_NODELIST, SLURM_NODELIST), expanded the way
// `scontrol show hostnames` does: "node[01-03,07],gpu7" -> node01 node02 node03 node07 gpu7.
// Zero padding is kept ("[08-10]" -> 08 09 10); several bracket groups in one name multiply out
// ("r[1-2]n[1-2]" -> r1n1 r1n2 r2n1 r2n2).
#pragma once

#include <string>
#include <vector>

namespace modelgrow {

// The hosts of `nodelist`, in order. InputError naming the list and the position for unbalanced
// brackets, an empty element, a descending or non-numeric range.
std::vector<std::string> ExpandNodelist(const std::string& nodelist);

}  // namespace modelgrow
