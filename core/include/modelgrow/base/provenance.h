// Where a result came from: toolkit version and commit, LibTorch, device, threads.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace modelgrow {

extern const char kGitCommit[];

// {"toolkit_version", "git_commit", "libtorch_version", "cuda_available", "threads", "host"}.
nlohmann::json BuildProvenance();

// The current time as ISO 8601 UTC ("2026-11-25T16:30:05Z").
std::string UtcTimestamp();

// A stable 16-hex-digit hash (FNV-1a 64) of a string, for content keys.
std::string HashText(const std::string& text);

}  // namespace modelgrow
