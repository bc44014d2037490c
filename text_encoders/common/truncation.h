// Prompts longer than an encoder's max_length are truncated, never silently: counted, and reported
// once on stderr (then through the encoder's Describe()).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace modelgrow {

class TruncationReport {
 public:
  // `who` names the encoder in the warning ("text encoder t5 (/models/t5)").
  TruncationReport(std::string who, int64_t max_length);
  // Adds a batch's count; the first time any prompt was truncated, warns on stderr.
  void Add(int64_t truncated);
  int64_t count() const { return count_.load(); }

 private:
  std::string who_;
  int64_t max_length_;
  std::atomic<int64_t> count_{0};
  std::atomic<bool> warned_{false};
};

}  // namespace modelgrow
