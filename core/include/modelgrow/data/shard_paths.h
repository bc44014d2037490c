// Which shard files a data set's `path` option names.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace modelgrow {

// Shard files named by a list of entries, each a file, a folder (its *.h5 files, sorted) or a
// glob pattern (matches sorted). InputError when an entry names nothing.
std::vector<std::filesystem::path> ResolveShardPaths(const std::vector<std::string>& entries);

}  // namespace modelgrow
