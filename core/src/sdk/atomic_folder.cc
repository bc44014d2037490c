#include "modelgrow/sdk/atomic_folder.h"

#include <fcntl.h>
#include <stdio.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace fs = std::filesystem;

AtomicFolderWriter::AtomicFolderWriter(fs::path target) : target_(std::move(target)) {
  staging_ = target_;
  staging_ += ".staging";
  std::error_code ec;
  fs::remove_all(staging_, ec);
  fs::create_directories(staging_, ec);
  if (ec) {
    // The staging folder is ours; the user chose the target: the message names that.
    throw RunError(fmt::format("{}: cannot write ({})", target_.string(), ec.message()));
  }
}

AtomicFolderWriter::~AtomicFolderWriter() {
  if (!committed_) {
    std::error_code ec;
    fs::remove_all(staging_, ec);
  }
}

void AtomicFolderWriter::AddTensors(const std::string& file_name, const NamedTensors& tensors,
                                    const std::map<std::string, std::string>& metadata) {
  NameTarget([&] { WriteSafetensors(staging_ / file_name, tensors, metadata); });
}

void AtomicFolderWriter::AddJson(const std::string& file_name, const nlohmann::json& value) {
  NameTarget([&] { WriteFileAtomic(staging_ / file_name, value.dump(2) + "\n"); });
}

void AtomicFolderWriter::AddFile(const std::string& file_name, const std::string& bytes) {
  NameTarget([&] { WriteFileAtomic(staging_ / file_name, bytes); });
}

void AtomicFolderWriter::NameTarget(const std::function<void()>& write) const {
  try {
    write();
  } catch (const RunError& e) {
    // The user chose the target folder; the staging folder beside it is ours.
    throw RunError(fmt::format("{}: cannot write ({})", target_.string(), e.what()));
  }
}

void AtomicFolderWriter::Commit() {
  std::error_code ec;
  const fs::path parent = target_.has_parent_path() ? target_.parent_path() : fs::path(".");
  if (fs::exists(target_, ec)) {
    // Swap the two folders in one step: at every instant `target` is a whole folder, the old one
    // or the new one. The old one then sits under the staging name and is removed.
    if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE) != 0) {
      throw RunError(
          fmt::format("{}: cannot replace ({})", target_.string(), std::strerror(errno)));
    }
    committed_ = true;
    FsyncDirectory(parent);
    fs::remove_all(staging_, ec);
  } else {
    fs::rename(staging_, target_, ec);
    if (ec) {
      throw RunError(fmt::format("{}: cannot write ({})", target_.string(), ec.message()));
    }
    committed_ = true;
    FsyncDirectory(parent);
  }
}

}  // namespace modelgrow
