#include "modelgrow/dist/slurm_nodelist.h"

#include <cctype>
#include <cstdint>

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

// A list with more hosts than this is a typo ("[1-999999999]"), not a cluster.
constexpr size_t kMaxHosts = 1 << 20;

[[noreturn]] void Fail(const std::string& nodelist, size_t at, const std::string& what) {
  throw InputError(
      fmt::format("SLURM_JOB_NODELIST '{}': {} at character {}", nodelist, what, at + 1));
}

bool AllDigits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// The values of one bracket's body, "01-03,07" -> 01 02 03 07 (zero padding kept).
std::vector<std::string> ExpandRanges(const std::string& nodelist, size_t at,
                                      const std::string& body) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= body.size()) {
    size_t comma = body.find(',', start);
    std::string part =
        body.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t dash = part.find('-');
    if (dash == std::string::npos) {
      if (!AllDigits(part)) Fail(nodelist, at, fmt::format("'{}' is not a number", part));
      out.push_back(part);
    } else {
      std::string lo = part.substr(0, dash), hi = part.substr(dash + 1);
      if (!AllDigits(lo) || !AllDigits(hi))
        Fail(nodelist, at, fmt::format("'{}' is not a range like 01-04", part));
      if (lo.size() > 9 || hi.size() > 9)
        Fail(nodelist, at, fmt::format("'{}' has numbers too long for host names", part));
      int64_t a = std::stoll(lo), b = std::stoll(hi);
      if (b < a) Fail(nodelist, at, fmt::format("range '{}' goes down", part));
      if (static_cast<size_t>(b - a) >= kMaxHosts)
        Fail(nodelist, at, fmt::format("range '{}' has more than {} hosts", part, kMaxHosts));
      for (int64_t v = a; v <= b; ++v) out.push_back(fmt::format("{:0{}d}", v, lo.size()));
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// One host pattern ("node[01-03]-ib", "r[1-2]n[1-2]") multiplied out.
std::vector<std::string> ExpandPattern(const std::string& nodelist, size_t offset,
                                       const std::string& pattern) {
  std::vector<std::string> hosts{""};
  size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] == '[') {
      size_t close = pattern.find(']', i);
      if (close == std::string::npos) Fail(nodelist, offset + i, "'[' without ']'");
      std::vector<std::string> values =
          ExpandRanges(nodelist, offset + i, pattern.substr(i + 1, close - i - 1));
      if (hosts.size() * values.size() > kMaxHosts)
        Fail(nodelist, offset + i, fmt::format("more than {} hosts", kMaxHosts));
      std::vector<std::string> next;
      for (const std::string& h : hosts) {
        for (const std::string& v : values) next.push_back(h + v);
      }
      hosts = std::move(next);
      i = close + 1;
    } else if (pattern[i] == ']') {
      Fail(nodelist, offset + i, "']' without '['");
    } else {
      for (std::string& h : hosts) h += pattern[i];
      ++i;
    }
  }
  return hosts;
}

}  // namespace

std::vector<std::string> ExpandNodelist(const std::string& nodelist) {
  std::vector<std::string> hosts;
  size_t start = 0;
  int depth = 0;
  for (size_t i = 0; i <= nodelist.size(); ++i) {
    char c = i < nodelist.size() ? nodelist[i] : ',';
    if (c == '[') {
      if (++depth > 1) Fail(nodelist, i, "nested '['");
    } else if (c == ']') {
      if (--depth < 0) Fail(nodelist, i, "']' without '['");
    } else if (c == ',' && depth == 0) {
      std::string pattern = nodelist.substr(start, i - start);
      if (pattern.empty()) Fail(nodelist, i, "an empty host name");
      for (std::string& h : ExpandPattern(nodelist, start, pattern)) hosts.push_back(std::move(h));
      if (hosts.size() > kMaxHosts) Fail(nodelist, i, fmt::format("more than {} hosts", kMaxHosts));
      start = i + 1;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      Fail(nodelist, i, "a space");
    }
  }
  if (depth != 0) Fail(nodelist, nodelist.size() - 1, "'[' without ']'");
  return hosts;
}

}  // namespace modelgrow
