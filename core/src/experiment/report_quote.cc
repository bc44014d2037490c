#include "modelgrow/experiment/report_quote.h"

#include <string>

#include <fmt/format.h>

#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/errors.h"
#include "report_data.h"

namespace modelgrow {

namespace fs = std::filesystem;

namespace {

// The position of `marker` as a whole line of `text`, or npos.
size_t FindLine(const std::string& text, const std::string& marker, size_t from = 0) {
  for (size_t at = text.find(marker, from); at != std::string::npos;
       at = text.find(marker, at + 1)) {
    const bool starts = at == 0 || text[at - 1] == '\n';
    const size_t end = at + marker.size();
    const bool ends = end == text.size() || text[end] == '\n' || text[end] == '\r';
    if (starts && ends) return at;
  }
  return std::string::npos;
}

// report.md with every heading two levels deeper ("# name" -> "### name").
std::string Demoted(const std::string& markdown) {
  std::string out;
  size_t start = 0;
  while (start < markdown.size()) {
    size_t end = markdown.find('\n', start);
    if (end == std::string::npos) end = markdown.size();
    const std::string line = markdown.substr(start, end - start);
    out += (line.starts_with("#") ? "##" : "") + line + "\n";
    start = end + 1;
  }
  return out;
}

}  // namespace

void QuoteReport(const fs::path& out, const fs::path& document) {
  const std::string name = report::ReadReportManifest(out).name;
  const fs::path report = out / "report" / "report.md";
  std::error_code ec;
  if (!fs::exists(report, ec)) {
    throw InputError(fmt::format("{}: no report to quote (`modelgrow report {}` writes it)",
                                 report.string(), out.string()));
  }
  if (!fs::exists(document, ec)) {
    throw InputError(fmt::format("{}: no such document to quote the report of '{}' into",
                                 document.string(), name));
  }
  const std::string text = ReadFile(document);
  const std::string begin = fmt::format("<!-- modelgrow report: {} -->", name);
  const std::string end = fmt::format("<!-- end modelgrow report: {} -->", name);
  const size_t at = FindLine(text, begin);
  const std::string how =
      fmt::format("the report goes between a line `{}` and a line `{}`", begin, end);
  if (at == std::string::npos) {
    throw InputError(fmt::format("{}: no line `{}` ({})", document.string(), begin, how));
  }
  if (FindLine(text, begin, at + 1) != std::string::npos) {
    throw InputError(
        fmt::format("{}: `{}` is there twice ({} once)", document.string(), begin, how));
  }
  const size_t to = FindLine(text, end, at);
  if (to == std::string::npos) {
    throw InputError(
        fmt::format("{}: `{}` has no `{}` after it ({})", document.string(), begin, end, how));
  }
  std::string quoted = Demoted(ReadFile(report));
  while (quoted.ends_with("\n\n")) quoted.pop_back();
  const std::string note = fmt::format(
      "<!-- Written by `modelgrow report DIR --quote-into {}` from the experiment's "
      "report/report.md: edits between the markers are lost. -->",
      document.filename().string());
  WriteFileAtomic(document, text.substr(0, at + begin.size()) + "\n\n" + note + "\n\n" + quoted +
                                "\n" + text.substr(to));
}

}  // namespace modelgrow
