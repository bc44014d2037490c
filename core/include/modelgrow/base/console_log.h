// Keeps what a run prints: while it lives, everything the process writes to stderr also goes into
// a file (a run's console.log). The terminal's own output is unchanged; in the file, a progress
// bar's redraws collapse into its final state per line, and terminal escapes are left out.
#pragma once

#include <filesystem>
#include <memory>

namespace modelgrow {

class ConsoleLog {
 public:
  // Appends to `file` (created with its folder). A log that cannot be opened is not an error:
  // the run goes on without it.
  explicit ConsoleLog(const std::filesystem::path& file);
  ~ConsoleLog();
  ConsoleLog(const ConsoleLog&) = delete;
  ConsoleLog& operator=(const ConsoleLog&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modelgrow
