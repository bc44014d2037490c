// Where a result came from: toolkit version and commit, LibTorch, device, threads.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace modelgrow {

extern const char kGitCommit[];
// SHA-256 over the sources that compute results (host, SDK, in-tree plugins; not tests or docs),
// made at build time by cmake/WriteCodeVersion.cmake: stage caches key on it.
extern const char kCodeVersion[];

// {"toolkit_version", "git_commit", "code_version", "libtorch_version", "cuda_available",
// "threads", "host"}.
nlohmann::json BuildProvenance();

// The current time as ISO 8601 UTC ("2026-11-25T16:30:05Z").
std::string UtcTimestamp();

// A stable 16-hex-digit hash (FNV-1a 64) of a string, for content keys.
std::string HashText(const std::string& text);

}  // namespace modelgrow
