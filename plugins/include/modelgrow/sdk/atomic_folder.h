// A folder written whole or not at all (checkpoints, made text models): files go into
// `<target>.staging`, and Commit() puts that folder in the target's place in one rename. A crash or
// an exception leaves the old folder (or none), never a half-written one under the real name; a
// later write cleans up the staging.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "modelgrow/sdk/safetensors.h"

namespace modelgrow {

class AtomicFolderWriter {
 public:
  // Starts an empty staging folder beside `target` (an old one is removed).
  explicit AtomicFolderWriter(std::filesystem::path target);
  virtual ~AtomicFolderWriter();  // removes the staging folder unless committed
  AtomicFolderWriter(const AtomicFolderWriter&) = delete;
  AtomicFolderWriter& operator=(const AtomicFolderWriter&) = delete;

  const std::filesystem::path& staging() const { return staging_; }
  void AddTensors(const std::string& file_name, const NamedTensors& tensors,
                  const std::map<std::string, std::string>& metadata = {});
  // Written as `json.dump(2)` and a newline.
  void AddJson(const std::string& file_name, const nlohmann::json& value);
  void AddFile(const std::string& file_name, const std::string& bytes);
  // Replaces `target` (if it exists) with the staging folder.
  void Commit();

 protected:
  // Runs a write into the staging folder; a RunError from it is reported as one about `target`.
  void NameTarget(const std::function<void()>& write) const;
  std::filesystem::path target_, staging_;

 private:
  bool committed_ = false;
};

}  // namespace modelgrow
