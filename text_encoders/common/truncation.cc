#include "common/truncation.h"

#include <iostream>

#include <fmt/format.h>

namespace modelgrow {

TruncationReport::TruncationReport(std::string who, int64_t max_length)
    : who_(std::move(who)), max_length_(max_length) {}

void TruncationReport::Add(int64_t truncated) {
  if (truncated <= 0) return;
  count_ += truncated;
  if (!warned_.exchange(true)) {
    std::cerr << fmt::format(
        "modelgrow: warning: {}: {} prompt(s) longer than max_length {} tokens were truncated; "
        "later ones are counted without a warning (see the encoder's description: "
        "\"prompts_truncated\")\n",
        who_, truncated, max_length_);
  }
}

}  // namespace modelgrow
