// Documentation that quotes an experiment's report instead of copying its numbers by hand: the
// lines between `<!-- modelgrow report: NAME -->` and `<!-- end modelgrow report: NAME -->` in a
// Markdown file are replaced by the experiment's report.md, its headings moved two levels down
// so that they nest under the document's own.
#pragma once

#include <filesystem>

namespace modelgrow {

// Replaces the block of experiment `out` (named by out/manifest.toml) in `document` with
// out/report/report.md. The document is rewritten atomically; a missing or repeated marker, or a
// missing report, is an InputError and leaves it as it was.
void QuoteReport(const std::filesystem::path& out, const std::filesystem::path& document);

}  // namespace modelgrow
