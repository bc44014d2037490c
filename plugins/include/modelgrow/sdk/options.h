// Validated access to TOML tables: manifests, plugin option tables, config overrides.
//
// Every reader goes through Options, so every reader reports problems the same way: the file,
// line:column, the key path and what was expected. Problems are collected, not thrown one by
// one, so a user sees everything wrong with a file at once:
//
//   Options opts = Options::ParseFile("exp.toml");
//   Options model = opts.Table("model");
//   int64_t depth = model.Int("depth", 28, {.min = 1});
//   model.RejectUnknownKeys();   // every key not read above is reported
//   opts.ThrowIfProblems();      // ValidationError listing all of them
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

struct SourcePosition {
  std::string file;
  int line = 0;
  int column = 0;
  // "file:line:column", or just "file" when the position is unknown.
  std::string ToString() const;
};

struct Problem {
  SourcePosition where;
  std::string key_path;  // dotted, e.g. "stages.grow.ops[0].placement"
  std::string message;
  std::string ToString() const;
};

// All problems found in one input, thrown together.
class ValidationError : public InputError {
 public:
  explicit ValidationError(std::vector<Problem> problems);
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  std::vector<Problem> problems_;
};

struct IntRange {
  int64_t min = std::numeric_limits<int64_t>::min();
  int64_t max = std::numeric_limits<int64_t>::max();
};
struct DoubleRange {
  double min = -std::numeric_limits<double>::infinity();
  double max = std::numeric_limits<double>::infinity();
  bool min_exclusive = false;
};

// A view of one table inside a parsed TOML document. Copies share the document, the list of
// problems and the record of which keys were read.
class Options {
 public:
  // Parses TOML. A syntax error throws ValidationError with its position.
  static Options ParseFile(const std::filesystem::path& file);
  static Options ParseString(std::string_view text, std::string source_name);
  // An empty table, for a plugin created without options.
  static Options Empty(std::string source_name = "<defaults>");

  // Getters return `fallback` when the key is absent. A present value of the wrong type or out of
  // range is recorded as a problem (and the fallback returned, so reading can go on).
  int64_t Int(std::string_view key, int64_t fallback, IntRange range = {}) const;
  double Double(std::string_view key, double fallback, DoubleRange range = {}) const;
  bool Bool(std::string_view key, bool fallback) const;
  std::string String(std::string_view key, std::string fallback) const;
  // A string that must be one of `allowed`.
  std::string Choice(std::string_view key, std::string fallback,
                     std::initializer_list<std::string_view> allowed) const;
  std::vector<int64_t> IntList(std::string_view key, std::vector<int64_t> fallback,
                               IntRange range = {}) const;
  std::vector<double> DoubleList(std::string_view key, std::vector<double> fallback) const;
  std::vector<std::string> StringList(std::string_view key,
                                      std::vector<std::string> fallback) const;
  // A string, or a list of strings (a single string is a list of one).
  std::vector<std::string> StringOrList(std::string_view key,
                                        std::vector<std::string> fallback) const;

  // Required variants record "missing required key" when absent.
  int64_t RequireInt(std::string_view key, IntRange range = {}) const;
  double RequireDouble(std::string_view key, DoubleRange range = {}) const;
  std::string RequireString(std::string_view key) const;

  bool Has(std::string_view key) const;
  // The TOML type name of a present value ("string", "integer", "table", ...), "" if absent.
  std::string TypeOf(std::string_view key) const;
  // A sub-table; an empty table (still reporting under its path) when absent.
  Options Table(std::string_view key) const;
  // An array of tables ([[key]] or key = [{...}, ...]).
  std::vector<Options> TableArray(std::string_view key) const;
  // The keys present in this table, in file order where the parser keeps it.
  std::vector<std::string> Keys() const;
  // Marks a key as known without reading it (for keys a later stage reads).
  void Accept(std::string_view key) const;

  // Records every key of this table that no getter read: "unknown key 'x'", with a suggestion.
  void RejectUnknownKeys() const;
  // Records a problem about `key` of this table (its position when present).
  void Fail(std::string_view key, std::string message) const;
  // Records a problem found elsewhere (e.g. by a plugin reading a copy of this document).
  void AddProblem(Problem problem) const;
  bool HasProblems() const;
  std::vector<Problem> TakeProblems() const;
  // Throws ValidationError with every problem recorded so far in this document.
  void ThrowIfProblems() const;

  // Dotted key path of this table from the document root ("" for the root).
  const std::string& path() const;
  const std::string& source_name() const;
  SourcePosition Position(std::string_view key = {}) const;
  std::string KeyPath(std::string_view key) const;

  // Sets `dotted_key` (relative to this table) from text: parsed as a TOML value when it is one
  // ("3", "true", "[1, 2]", "{a = 1}", "\"s\""), otherwise taken as a bare string; blanks around
  // the key's parts and the value do not count. Creates tables on the way. `origin` says where
  // the value came from ("--set #2 'steps=ten'"); problems with it name that instead of a line of
  // the file (default: "--set '<key>=<value>'"). Returns false (and records a problem) when a path
  // element is not a table.
  bool Set(std::string_view dotted_key, std::string_view value_text, std::string_view origin = {});
  // Copies a value from another document (for sweeps), recording `origin` as for Set (none: the
  // value keeps the key's place in this file). Returns false when the path is invalid.
  bool SetFrom(std::string_view dotted_key, const Options& source, std::string_view source_key,
               std::string_view origin = {});
  // Whether a dotted key path exists below this table.
  bool HasPath(std::string_view dotted_key) const;
  // The table at a dotted path; empty when absent.
  Options AtPath(std::string_view dotted_key) const;
  // Removes a key from this table.
  void Erase(std::string_view key);

  // A deep copy with its own problem list and read-record.
  Options Clone() const;
  // A deep copy of this table without `excluded` keys, in its own document but keeping this
  // table's key path and source positions (so a plugin reading it reports manifest positions).
  Options Subset(std::initializer_list<std::string_view> excluded = {}) const;
  // A copy of `base` with every key of this table set over it (for `inherit = "id"`).
  Options MergedOver(const Options& base) const;
  // The value at `key` alone, as a one-key table {v = value} in its own document (for sweeps).
  Options ValueAsTable(std::string_view key) const;
  // Each element of the array at `key` as a one-key table {v = element}.
  std::vector<Options> ArrayElementsAsTables(std::string_view key) const;
  // The value at `key` as TOML text ("[1, 2]", "'insert'"), for labels and messages.
  std::string ValueText(std::string_view key) const;
  // True when this view refers to no table (an absent Table()).
  bool empty_view() const { return table_ == nullptr; }
  // Canonical TOML (keys sorted) of this table: stable across runs, used for hashing.
  std::string ToToml() const;
  std::string ToJson() const;

  struct Document;  // implementation detail, defined in options.cc

 private:
  Options(std::shared_ptr<Document> doc, std::string path, const void* table);
  std::shared_ptr<Document> doc_;
  std::string path_;
  const void* table_;  // toml::table* inside doc_ (kept opaque so this header stays light)
};

// "did you mean 'x'?" for a misspelt name, or "" when nothing is close.
std::string SuggestClosest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace modelgrow
