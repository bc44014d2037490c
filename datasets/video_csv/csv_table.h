// A CSV file as Open-Sora writes them (pandas.to_csv): a header row, then one row per video;
// fields may be quoted, with "" for a quote and newlines inside quotes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace modelgrow::video_csv {

class CsvTable {
 public:
  // InputError naming the file (and line) when it cannot be read or a row is malformed.
  static CsvTable Read(const std::filesystem::path& file);
  static CsvTable Parse(const std::string& text, const std::string& source_name);

  const std::vector<std::string>& header() const { return header_; }
  size_t rows() const { return rows_.size(); }
  bool HasColumn(const std::string& name) const { return columns_.count(name) > 0; }
  // The field of `column` in row `row` ("" when the column is absent).
  const std::string& Field(size_t row, const std::string& column) const;
  // The file's line where `row` starts (1-based; the header is line 1).
  int64_t Line(size_t row) const { return lines_[row]; }

 private:
  std::vector<std::string> header_;
  std::map<std::string, size_t> columns_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<int64_t> lines_;
};

}  // namespace modelgrow::video_csv
