#include "csv_table.h"

#include <fmt/format.h>

#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/limits.h"

namespace modelgrow::video_csv {

CsvTable CsvTable::Read(const std::filesystem::path& file) {
  return Parse(ReadFile(file), file.string());
}

CsvTable CsvTable::Parse(const std::string& text, const std::string& source_name) {
  std::vector<std::vector<std::string>> records;
  std::vector<int64_t> record_lines;
  std::vector<std::string> record;
  std::string field;
  bool quoted = false, field_started = false;
  int64_t line = 1, record_line = 1;
  size_t i = 0;
  // A UTF-8 byte-order mark (Excel writes one) is not part of the first column's name.
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;
  auto end_record = [&] {
    record.push_back(std::move(field));
    field.clear();
    // Blank lines are not rows.
    if (!(record.size() == 1 && record[0].empty())) {
      records.push_back(std::move(record));
      record_lines.push_back(record_line);
    }
    record.clear();
    field_started = false;
  };
  size_t record_start = i;
  for (; i < text.size(); ++i) {
    // A record this long is a file without line breaks or an unclosed quote: said here, with the
    // line it began on, rather than growing one field to the size of the file.
    if (static_cast<int64_t>(i - record_start) > limits::kMaxCsvRecordBytes)
      throw InputError(fmt::format("{}:{}: a row longer than {} bytes (an unclosed quote?)",
                                   source_name, record_line, limits::kMaxCsvRecordBytes));
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && !field_started) {
      quoted = true;
      field_started = true;
    } else if (c == ',') {
      record.push_back(std::move(field));
      field.clear();
      field_started = false;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_record();
      ++line;
      record_line = line;
      record_start = i + 1;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (quoted)
    throw InputError(
        fmt::format("{}:{}: a quoted field is never closed", source_name, record_line));
  if (!field.empty() || !record.empty()) end_record();
  if (records.empty())
    throw InputError(fmt::format("{}: empty CSV file (expected a header row)", source_name));

  CsvTable table;
  table.header_ = std::move(records[0]);
  for (size_t c = 0; c < table.header_.size(); ++c) table.columns_.emplace(table.header_[c], c);
  for (size_t r = 1; r < records.size(); ++r) {
    if (records[r].size() != table.header_.size())
      throw InputError(fmt::format("{}:{}: expected {} fields as in the header, found {}",
                                   source_name, record_lines[r], table.header_.size(),
                                   records[r].size()));
    table.rows_.push_back(std::move(records[r]));
    table.lines_.push_back(record_lines[r]);
  }
  return table;
}

const std::string& CsvTable::Field(size_t row, const std::string& column) const {
  static const std::string empty;
  auto it = columns_.find(column);
  if (it == columns_.end()) return empty;
  return rows_.at(row)[it->second];
}

}  // namespace modelgrow::video_csv
