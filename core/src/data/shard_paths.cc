#include "modelgrow/data/shard_paths.h"

#include <glob.h>

#include <algorithm>

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace fs = std::filesystem;

std::vector<fs::path> ResolveShardPaths(const std::vector<std::string>& entries) {
  std::vector<fs::path> out;
  for (const std::string& entry : entries) {
    std::error_code ec;
    if (entry.find_first_of("*?[") != std::string::npos) {
      glob_t g{};
      int rc = ::glob(entry.c_str(), 0, nullptr, &g);
      std::vector<fs::path> matches;
      if (rc == 0) {
        for (size_t k = 0; k < g.gl_pathc; ++k) {
          if (fs::is_regular_file(g.gl_pathv[k], ec)) matches.emplace_back(g.gl_pathv[k]);
        }
      }
      globfree(&g);
      if (matches.empty()) throw InputError(fmt::format("no shard file matches '{}'", entry));
      std::sort(matches.begin(), matches.end());
      out.insert(out.end(), matches.begin(), matches.end());
    } else if (fs::is_directory(entry, ec)) {
      // `dataset export` records its progress there until it writes export.json last: a folder
      // with the record and without export.json is a killed export, a part of the data only.
      if (fs::exists(fs::path(entry) / "export.progress.json", ec) &&
          !fs::exists(fs::path(entry) / "export.json", ec))
        throw InputError(fmt::format(
            "folder '{}' holds an unfinished export (export.progress.json, no export.json): "
            "finish it with `modelgrow dataset export ... --resume` before reading it",
            entry));
      std::vector<fs::path> files;
      for (const auto& f : fs::directory_iterator(entry)) {
        if (f.is_regular_file() && f.path().extension() == ".h5") files.push_back(f.path());
      }
      if (files.empty())
        throw InputError(fmt::format("folder '{}' holds no .h5 shard files", entry));
      std::sort(files.begin(), files.end());
      out.insert(out.end(), files.begin(), files.end());
    } else if (fs::is_regular_file(entry, ec)) {
      out.emplace_back(entry);
    } else {
      throw InputError(fmt::format("shard path '{}' does not exist", entry));
    }
  }
  return out;
}

}  // namespace modelgrow
