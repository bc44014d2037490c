#include "modelgrow/sdk/options.h"

#include <cctype>
#include <charconv>
#include <cmath>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "modelgrow/sdk/limits.h"

namespace modelgrow {

std::string SourcePosition::ToString() const {
  if (line <= 0) return file;
  return fmt::format("{}:{}:{}", file, line, column);
}

std::string Problem::ToString() const {
  std::string where_text = where.ToString();
  if (key_path.empty()) return fmt::format("{}: {}", where_text, message);
  return fmt::format("{}: {}: {}", where_text, key_path, message);
}

namespace {

std::string JoinProblems(const std::vector<Problem>& problems) {
  std::string text;
  for (const Problem& p : problems) {
    if (!text.empty()) text += '\n';
    text += p.ToString();
  }
  return text;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "table";
    case toml::node_type::array:
      return "array";
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    default:
      return "nothing";
  }
}

std::string Shown(const toml::node& node) {
  std::ostringstream out;
  node.visit([&](auto&& v) { out << v; });
  std::string text = out.str();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

std::string Trim(std::string_view text) {
  const size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return "";
  const size_t end = text.find_last_not_of(" \t");
  return std::string(text.substr(begin, end - begin + 1));
}

// Splits "a.b.c" into its parts (each without surrounding blanks); quoted parts ("a.\"x.y\".c")
// keep their dots.
std::vector<std::string> SplitDotted(std::string_view path) {
  std::vector<std::string> parts;
  std::string current;
  bool quoted = false;
  for (char c : path) {
    if (c == '"') {
      quoted = !quoted;
    } else if (c == '.' && !quoted) {
      parts.push_back(Trim(current));
      current.clear();
    } else {
      current += c;
    }
  }
  parts.push_back(Trim(current));
  return parts;
}

}  // namespace

std::string SuggestClosest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (const std::string& c : candidates) {
    size_t d = EditDistance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best.empty() ? "" : fmt::format("did you mean '{}'?", best);
}

ValidationError::ValidationError(std::vector<Problem> problems)
    : InputError(JoinProblems(problems)), problems_(std::move(problems)) {}

struct Options::Document {
  toml::table root;
  std::string source_name;
  std::vector<Problem> problems;
  std::map<const void*, std::set<std::string, std::less<>>> read_keys;
  // Tables whose unknown keys were already reported (so a second RejectUnknownKeys is quiet).
  std::set<const void*> rejected;
};

Options::Options(std::shared_ptr<Document> doc, std::string path, const void* table)
    : doc_(std::move(doc)), path_(std::move(path)), table_(table) {}

namespace {
const toml::table* AsTable(const void* p) { return static_cast<const toml::table*>(p); }
toml::table* AsMutableTable(const void* p) {
  return const_cast<toml::table*>(static_cast<const toml::table*>(p));
}
}  // namespace

namespace {

// Refuses a document nested deeper than limits::kMaxNesting (tables in tables, arrays in arrays):
// everything that reads a manifest (merging inherited tables, canonical TOML for cache keys)
// walks it recursively. Walked with an explicit stack, so the check itself cannot overflow.
void CheckNesting(const toml::table& root, const std::string& source_name) {
  std::vector<std::pair<const toml::node*, int64_t>> todo{{&root, 1}};
  while (!todo.empty()) {
    auto [node, depth] = todo.back();
    todo.pop_back();
    if (depth > limits::kMaxNesting) {
      Problem p;
      const auto& begin = node->source().begin;
      p.where = {source_name, static_cast<int>(begin.line), static_cast<int>(begin.column)};
      p.message = fmt::format("tables and arrays nested more than {} deep", limits::kMaxNesting);
      throw ValidationError({p});
    }
    if (const toml::table* t = node->as_table()) {
      for (const auto& [key, value] : *t) todo.emplace_back(&value, depth + 1);
    } else if (const toml::array* a = node->as_array()) {
      for (const toml::node& value : *a) todo.emplace_back(&value, depth + 1);
    }
  }
}

}  // namespace

Options Options::ParseString(std::string_view text, std::string source_name) {
  auto doc = std::make_shared<Document>();
  doc->source_name = source_name;
  try {
    doc->root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    Problem p;
    p.where = {source_name, static_cast<int>(e.source().begin.line),
               static_cast<int>(e.source().begin.column)};
    p.message = fmt::format("TOML syntax error: {}", e.description());
    throw ValidationError({p});
  }
  CheckNesting(doc->root, source_name);
  return Options(doc, "", &doc->root);
}

Options Options::ParseFile(const std::filesystem::path& file) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) {
    throw InputError(fmt::format("{}: is a folder, not a TOML file", file.string()));
  }
  if (!std::filesystem::is_regular_file(file, ec)) {
    throw InputError(fmt::format("{}: no such file", file.string()));
  }
  auto doc = std::make_shared<Document>();
  doc->source_name = file.string();
  try {
    doc->root = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    Problem p;
    p.where = {file.string(), static_cast<int>(e.source().begin.line),
               static_cast<int>(e.source().begin.column)};
    p.message = fmt::format("TOML syntax error: {}", e.description());
    throw ValidationError({p});
  }
  CheckNesting(doc->root, file.string());
  return Options(doc, "", &doc->root);
}

Options Options::Empty(std::string source_name) { return ParseString("", std::move(source_name)); }

const std::string& Options::path() const { return path_; }
const std::string& Options::source_name() const { return doc_->source_name; }

std::string Options::KeyPath(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  if (key.empty()) return path_;
  return path_ + "." + std::string(key);
}

namespace {

// Where a value or key came from. Values set by an override (--set, a sweep value) were parsed
// with their origin as source path -- "--set #2 'stages.pretrain.steps=ten'" -- which is not the
// document's file: a problem with them names that text, not a line of the manifest.
std::optional<SourcePosition> PositionOf(const toml::source_region& region,
                                         const std::string& file) {
  const std::string path = region.path ? *region.path : std::string();
  if (!path.empty() && path != file) return SourcePosition{path, 0, 0};
  if (region.begin.line == 0) return std::nullopt;
  return SourcePosition{file, static_cast<int>(region.begin.line),
                        static_cast<int>(region.begin.column)};
}

}  // namespace

SourcePosition Options::Position(std::string_view key) const {
  const std::string& file = doc_->source_name;
  if (table_ == nullptr) return {file, 0, 0};
  if (!key.empty()) {
    auto it = AsTable(table_)->find(key);
    if (it != AsTable(table_)->end()) {
      // A copied table (Subset, Clone) loses its values' positions but keeps its keys'.
      if (auto p = PositionOf(it->second.source(), file)) return *p;
      if (auto p = PositionOf(it->first.source(), file)) return *p;
    }
  }
  if (auto p = PositionOf(AsTable(table_)->source(), file)) return *p;  // absent key: its table
  return {file, 0, 0};
}

void Options::Fail(std::string_view key, std::string message) const {
  doc_->problems.push_back({Position(key), KeyPath(key), std::move(message)});
}

void Options::AddProblem(Problem problem) const { doc_->problems.push_back(std::move(problem)); }

bool Options::HasProblems() const { return !doc_->problems.empty(); }

std::vector<Problem> Options::TakeProblems() const {
  std::vector<Problem> out;
  out.swap(doc_->problems);
  return out;
}

void Options::ThrowIfProblems() const {
  if (doc_->problems.empty()) return;
  std::vector<Problem> problems = TakeProblems();
  // Report in file order, so the list reads top to bottom.
  std::stable_sort(problems.begin(), problems.end(), [](const Problem& a, const Problem& b) {
    return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
  });
  throw ValidationError(std::move(problems));
}

namespace {
const toml::node* Lookup(const void* table, std::string_view key) {
  return table == nullptr ? nullptr : AsTable(table)->get(key);
}
}  // namespace

bool Options::Has(std::string_view key) const { return Lookup(table_, key) != nullptr; }

std::string Options::TypeOf(std::string_view key) const {
  const toml::node* n = Lookup(table_, key);
  return n == nullptr ? "" : TypeName(*n);
}

void Options::Accept(std::string_view key) const {
  if (table_ != nullptr) doc_->read_keys[table_].insert(std::string(key));
}

int64_t Options::Int(std::string_view key, int64_t fallback, IntRange range) const {
  Accept(key);
  const toml::node* n = Lookup(table_, key);
  if (n == nullptr) return fallback;
  if (!n->is_integer()) {
    Fail(key, fmt::format("expected an integer, got {} {}", TypeName(*n), Shown(*n)));
    return fallback;
  }
  int64_t v = n->as_integer()->get();
  if (v < range.min || v > range.max) {
    std::string bounds = range.max == std::numeric_limits<int64_t>::max()
                             ? fmt::format(">= {}", range.min)
                             : (range.min == std::numeric_limits<int64_t>::min()
                                    ? fmt::format("<= {}", range.max)
                                    : fmt::format("in [{}, {}]", range.min, range.max));
    Fail(key, fmt::format("expected an integer {}, got {}", bounds, v));
    return fallback;
  }
  return v;
}

double Options::Double(std::string_view key, double fallback, DoubleRange range) const {
  Accept(key);
  const toml::node* n = Lookup(table_, key);
  if (n == nullptr) return fallback;
  double v;
  if (n->is_floating_point()) {
    v = n->as_floating_point()->get();
  } else if (n->is_integer()) {
    v = static_cast<double>(n->as_integer()->get());
  } else {
    Fail(key, fmt::format("expected a number, got {} {}", TypeName(*n), Shown(*n)));
    return fallback;
  }
  // TOML has nan and inf; a setting that is not a number fails every range (NaN compares false).
  if (std::isnan(v)) {
    Fail(key, "expected a number, got nan");
    return fallback;
  }
  bool below = range.min_exclusive ? v <= range.min : v < range.min;
  if (below || v > range.max) {
    Fail(key, fmt::format("expected a number in {}{}, {}], got {}", range.min_exclusive ? "(" : "[",
                          range.min, range.max, v));
    return fallback;
  }
  return v;
}

bool Options::Bool(std::string_view key, bool fallback) const {
  Accept(key);
  const toml::node* n = Lookup(table_, key);
  if (n == nullptr) return fallback;
  if (!n->is_boolean()) {
    Fail(key, fmt::format("expected true or false, got {} {}", TypeName(*n), Shown(*n)));
    return fallback;
  }
  return n->as_boolean()->get();
}

std::string Options::String(std::string_view key, std::string fallback) const {
  Accept(key);
  const toml::node* n = Lookup(table_, key);
  if (n == nullptr) return fallback;
  if (!n->is_string()) {
    Fail(key, fmt::format("expected a string, got {} {}", TypeName(*n), Shown(*n)));
    return fallback;
  }
  return n->as_string()->get();
}

std::string Options::Choice(std::string_view key, std::string fallback,
                            std::initializer_list<std::string_view> allowed) const {
  std::string v = String(key, fallback);
  if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return v;
  std::vector<std::string> names(allowed.begin(), allowed.end());
  std::string list;
  for (const auto& a : names) list += (list.empty() ? "" : ", ") + std::string("'") + a + "'";
  std::string hint = SuggestClosest(v, names);
  Fail(key,
       fmt::format("expected one of {}, got '{}'{}", list, v, hint.empty() ? "" : "; " + hint));
  return fallback;
}

namespace {
template <typename T, typename Convert>
std::vector<T> ReadList(const Options& self, const void* table, std::string_view key,
                        std::vector<T> fallback, const char* what, Convert convert) {
  self.Accept(key);
  const toml::node* n = Lookup(table, key);
  if (n == nullptr) return fallback;
  if (!n->is_array()) {
    self.Fail(key,
              fmt::format("expected an array of {}, got {} {}", what, TypeName(*n), Shown(*n)));
    return fallback;
  }
  std::vector<T> out;
  const toml::array& arr = *n->as_array();
  for (size_t i = 0; i < arr.size(); ++i) {
    std::optional<T> v = convert(arr[i]);
    if (!v) {
      self.Fail(key, fmt::format("expected an array of {}, but element {} is {} {}", what, i,
                                 TypeName(arr[i]), Shown(arr[i])));
      return fallback;
    }
    out.push_back(*v);
  }
  return out;
}
}  // namespace

std::vector<int64_t> Options::IntList(std::string_view key, std::vector<int64_t> fallback,
                                      IntRange range) const {
  auto out = ReadList<int64_t>(*this, table_, key, fallback, "integers",
                               [](const toml::node& n) -> std::optional<int64_t> {
                                 if (!n.is_integer()) return std::nullopt;
                                 return n.as_integer()->get();
                               });
  for (int64_t v : out) {
    if (v < range.min || v > range.max) {
      Fail(key, fmt::format("element {} is out of range [{}, {}]", v, range.min, range.max));
      return fallback;
    }
  }
  return out;
}

std::vector<double> Options::DoubleList(std::string_view key, std::vector<double> fallback) const {
  return ReadList<double>(*this, table_, key, fallback, "numbers",
                          [](const toml::node& n) -> std::optional<double> {
                            if (n.is_integer()) return static_cast<double>(n.as_integer()->get());
                            // NaN is not a usable number anywhere a list of them is read.
                            if (n.is_floating_point() && !std::isnan(n.as_floating_point()->get()))
                              return n.as_floating_point()->get();
                            return std::nullopt;
                          });
}

std::vector<std::string> Options::StringList(std::string_view key,
                                             std::vector<std::string> fallback) const {
  return ReadList<std::string>(*this, table_, key, fallback, "strings",
                               [](const toml::node& n) -> std::optional<std::string> {
                                 if (!n.is_string()) return std::nullopt;
                                 return n.as_string()->get();
                               });
}

std::vector<std::string> Options::StringOrList(std::string_view key,
                                               std::vector<std::string> fallback) const {
  const toml::node* n = Lookup(table_, key);
  if (n != nullptr && n->is_string()) {
    Accept(key);
    return {n->as_string()->get()};
  }
  return StringList(key, std::move(fallback));
}

int64_t Options::RequireInt(std::string_view key, IntRange range) const {
  if (!Has(key)) {
    Fail(key, "missing required key (an integer)");
    Accept(key);
    return 0;
  }
  return Int(key, 0, range);
}

double Options::RequireDouble(std::string_view key, DoubleRange range) const {
  if (!Has(key)) {
    Fail(key, "missing required key (a number)");
    Accept(key);
    return 0;
  }
  return Double(key, 0, range);
}

std::string Options::RequireString(std::string_view key) const {
  if (!Has(key)) {
    Fail(key, "missing required key (a string)");
    Accept(key);
    return "";
  }
  return String(key, "");
}

Options Options::Table(std::string_view key) const {
  Accept(key);
  const toml::node* n = Lookup(table_, key);
  if (n == nullptr) return Options(doc_, KeyPath(key), nullptr);
  if (!n->is_table()) {
    Fail(key, fmt::format("expected a table, got {} {}", TypeName(*n), Shown(*n)));
    return Options(doc_, KeyPath(key), nullptr);
  }
  return Options(doc_, KeyPath(key), n->as_table());
}

std::vector<Options> Options::TableArray(std::string_view key) const {
  Accept(key);
  std::vector<Options> out;
  const toml::node* n = Lookup(table_, key);
  if (n == nullptr) return out;
  if (!n->is_array()) {
    Fail(key, fmt::format("expected an array of tables, got {} {}", TypeName(*n), Shown(*n)));
    return out;
  }
  const toml::array& arr = *n->as_array();
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string element_path = fmt::format("{}[{}]", KeyPath(key), i);
    if (!arr[i].is_table()) {
      doc_->problems.push_back(
          {Position(key), element_path,
           fmt::format("expected a table, got {} {}", TypeName(arr[i]), Shown(arr[i]))});
      continue;
    }
    out.push_back(Options(doc_, element_path, arr[i].as_table()));
  }
  return out;
}

std::vector<std::string> Options::Keys() const {
  std::vector<std::string> keys;
  if (table_ == nullptr) return keys;
  for (const auto& [k, v] : *AsTable(table_)) keys.emplace_back(k.str());
  return keys;
}

void Options::RejectUnknownKeys() const {
  if (table_ == nullptr || doc_->rejected.count(table_)) return;
  doc_->rejected.insert(table_);
  const auto& read = doc_->read_keys[table_];
  std::vector<std::string> known(read.begin(), read.end());
  for (const auto& [k, v] : *AsTable(table_)) {
    std::string key(k.str());
    if (read.count(key)) continue;
    std::string hint = SuggestClosest(key, known);
    std::string known_list;
    for (const auto& name : known) known_list += (known_list.empty() ? "" : ", ") + name;
    std::string message = fmt::format("unknown key '{}'", key);
    if (!hint.empty()) message += "; " + hint;
    if (!known_list.empty()) message += fmt::format(" (known keys: {})", known_list);
    SourcePosition where = PositionOf(k.source(), doc_->source_name).value_or(Position(""));
    doc_->problems.push_back({where, KeyPath(key), message});
  }
}

namespace {

// Parses `text` as a TOML value with `origin` as its source; a bare word that is not TOML becomes
// a string. Whitespace around it does not count.
toml::table ParseValue(std::string_view text, const std::string& origin) {
  const std::string trimmed = Trim(text);
  try {
    return toml::parse("v = " + trimmed, origin);
  } catch (const toml::parse_error&) {
    toml::table t;
    t.insert_or_assign("v", trimmed);
    return t;
  }
}

void EmitValue(std::ostream& out, const toml::node& node);  // canonical TOML, below

// Sets table[name] = value under a key that remembers `origin` (an existing key is replaced, so
// the position of the value it held in the file is not reported for the new one).
template <typename Value>
void Replace(toml::table& table, const std::string& name, Value&& value,
             const std::string& origin) {
  table.erase(name);
  toml::source_region region;
  region.path = std::make_shared<const std::string>(origin);
  table.insert(toml::key(name, std::move(region)), std::forward<Value>(value));
}

// Walks `parts` (all but the last) from `table`, creating tables when `create`.
// A table created on the way remembers `origin`, so a misspelt table name in an override is
// reported at the override.
toml::table* Walk(toml::table* table, const std::vector<std::string>& parts, bool create,
                  std::string* failed_at, const std::string& origin = {}) {
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    toml::node* next = table->get(parts[i]);
    if (next == nullptr) {
      if (!create) return nullptr;
      toml::source_region region;
      if (!origin.empty()) region.path = std::make_shared<const std::string>(origin);
      table->insert(toml::key(parts[i], std::move(region)), toml::table{});
      next = table->get(parts[i]);
    }
    if (!next->is_table()) {
      if (failed_at) *failed_at = parts[i];
      return nullptr;
    }
    table = next->as_table();
  }
  return table;
}

}  // namespace

bool Options::Set(std::string_view dotted_key, std::string_view value_text,
                  std::string_view origin) {
  std::string origin_text =
      origin.empty() ? fmt::format("--set '{}={}'", dotted_key, value_text) : std::string(origin);
  if (table_ == nullptr) {
    Fail("", "cannot set a key in a table that does not exist");
    return false;
  }
  std::vector<std::string> parts = SplitDotted(dotted_key);
  std::string failed_at;
  toml::table* target = Walk(AsMutableTable(table_), parts, true, &failed_at, origin_text);
  if (target == nullptr) {
    doc_->problems.push_back({SourcePosition{origin_text, 0, 0}, KeyPath(dotted_key),
                              fmt::format("'{}' is not a table", failed_at)});
    return false;
  }
  toml::table parsed = ParseValue(value_text, origin_text);
  Replace(*target, parts.back(), std::move(*parsed.get("v")), origin_text);
  return true;
}

bool Options::SetFrom(std::string_view dotted_key, const Options& source,
                      std::string_view source_key, std::string_view origin) {
  const toml::node* value = Lookup(source.table_, source_key);
  if (value == nullptr || table_ == nullptr) return false;
  std::vector<std::string> parts = SplitDotted(dotted_key);
  toml::table* target = Walk(AsMutableTable(table_), parts, true, nullptr, std::string(origin));
  if (target == nullptr) return false;
  if (origin.empty()) {
    value->visit([&](auto&& v) { target->insert_or_assign(parts.back(), v); });
    return true;
  }
  // Re-read from its text with `origin` as the source, so every key and value inside it (a whole
  // table set by a sweep) names the origin.
  std::ostringstream text;
  EmitValue(text, *value);
  const std::string origin_text(origin);
  toml::table parsed = ParseValue(text.str(), origin_text);
  Replace(*target, parts.back(), std::move(*parsed.get("v")), origin_text);
  return true;
}

bool Options::HasPath(std::string_view dotted_key) const {
  if (table_ == nullptr) return false;
  std::vector<std::string> parts = SplitDotted(dotted_key);
  toml::table* parent = Walk(AsMutableTable(table_), parts, false, nullptr);
  return parent != nullptr && parent->get(parts.back()) != nullptr;
}

Options Options::AtPath(std::string_view dotted_key) const {
  std::vector<std::string> parts = SplitDotted(dotted_key);
  Options current = *this;
  for (const std::string& part : parts) {
    const toml::node* n = Lookup(current.table_, part);
    if (n == nullptr || !n->is_table()) return Options(doc_, KeyPath(dotted_key), nullptr);
    current = Options(doc_, current.KeyPath(part), n->as_table());
  }
  return current;
}

void Options::Erase(std::string_view key) {
  if (table_ != nullptr) AsMutableTable(table_)->erase(key);
}

Options Options::Clone() const {
  auto doc = std::make_shared<Document>();
  doc->source_name = doc_->source_name;
  if (table_ != nullptr) doc->root = *AsTable(table_);
  return Options(doc, "", &doc->root);
}

Options Options::ValueAsTable(std::string_view key) const {
  auto doc = std::make_shared<Document>();
  doc->source_name = doc_->source_name;
  if (const toml::node* n = Lookup(table_, key)) {
    n->visit([&](auto&& v) { doc->root.insert_or_assign("v", v); });
  }
  return Options(doc, KeyPath(key), &doc->root);
}

std::vector<Options> Options::ArrayElementsAsTables(std::string_view key) const {
  std::vector<Options> out;
  const toml::node* n = Lookup(table_, key);
  if (n == nullptr || !n->is_array()) return out;
  const toml::array& arr = *n->as_array();
  for (size_t i = 0; i < arr.size(); ++i) {
    auto doc = std::make_shared<Document>();
    doc->source_name = doc_->source_name;
    arr[i].visit([&](auto&& v) { doc->root.insert_or_assign("v", v); });
    out.push_back(Options(doc, fmt::format("{}[{}]", KeyPath(key), i), &doc->root));
  }
  return out;
}

std::string Options::ValueText(std::string_view key) const {
  const toml::node* n = Lookup(table_, key);
  if (n == nullptr) return "";
  if (n->is_string()) return n->as_string()->get();
  std::ostringstream out;
  n->visit([&](auto&& v) { out << v; });
  // One line: labels and messages have no room for a multi-line table.
  std::string text;
  bool space = false;
  for (char c : out.str()) {
    if (c == '\n' || c == ' ') {
      space = !text.empty();
      continue;
    }
    if (space) text += ' ';
    space = false;
    text += c;
  }
  return text;
}

Options Options::Subset(std::initializer_list<std::string_view> excluded) const {
  auto doc = std::make_shared<Document>();
  doc->source_name = doc_->source_name;
  if (table_ != nullptr) doc->root = *AsTable(table_);
  for (std::string_view key : excluded) doc->root.erase(key);
  return Options(doc, path_, &doc->root);
}

Options Options::MergedOver(const Options& base) const {
  Options merged = base.Subset();
  merged.path_ = path_;
  if (table_ != nullptr) {
    // Not a structured binding: clang before 16 cannot capture one in a lambda (the fuzz build).
    for (const auto& entry : *AsTable(table_)) {
      const auto& key = entry.first;
      entry.second.visit(
          [&](auto&& value) { AsMutableTable(merged.table_)->insert_or_assign(key, value); });
    }
  }
  return merged;
}

namespace {

// Canonical TOML, written here rather than by toml++'s formatter so numbers read as people wrote
// them: a float is its shortest round-trip form (5e-4 prints as 0.0005, not
// 0.00050000000000000001), which is also unique, as stage keys need.
void EmitValue(std::ostream& out, const toml::node& node);

// A basic string ("..."), every character that needs it escaped. toml++'s own writer picks a
// literal or multi-line form by content, and a multi-line string loses a newline it starts with
// when read back (the TOML rule for the one after the opening quotes): found by fuzz_options.
std::string QuoteString(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += fmt::format("\\u{:04X}", static_cast<unsigned>(c));
        } else {
          out += c;  // UTF-8 passes through: toml++ read it, so it is valid
        }
    }
  }
  return out + "\"";
}

std::string QuoteKey(const std::string& key) {
  bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
  return bare ? key : QuoteString(key);
}

std::string FloatText(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // Plain notation over the range people write learning rates and sizes in, even where the
  // exponent form would be a character shorter (0.0005, not 5e-04).
  const double magnitude = std::abs(v);
  const bool plain = magnitude == 0 || (magnitude >= 1e-5 && magnitude < 1e16);
  char buffer[400];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, v,
                              plain ? std::chars_format::fixed : std::chars_format::scientific);
  std::string text(buffer, result.ptr);
  // "1e-06" -> "1e-6": the exponent without padding zeros.
  if (const size_t e = text.find('e'); e != std::string::npos) {
    size_t digits = e + 1;
    if (digits < text.size() && (text[digits] == '-' || text[digits] == '+')) ++digits;
    while (digits + 1 < text.size() && text[digits] == '0') text.erase(digits, 1);
  }
  // TOML needs a fraction or an exponent to read a float back as one.
  if (text.find_first_of(".eE") == std::string::npos) text += ".0";
  return text;
}

void EmitInlineTable(std::ostream& out, const toml::table& table) {
  out << "{";
  bool first = true;
  for (const auto& [key, value] : table) {
    out << (first ? "" : ", ") << QuoteKey(std::string(key.str())) << " = ";
    EmitValue(out, value);
    first = false;
  }
  out << "}";
}

void EmitValue(std::ostream& out, const toml::node& node) {
  if (const auto* f = node.as_floating_point()) {
    out << FloatText(f->get());
  } else if (const auto* a = node.as_array()) {
    out << "[";
    for (size_t i = 0; i < a->size(); ++i) {
      if (i > 0) out << ", ";
      EmitValue(out, *a->get(i));
    }
    out << "]";
  } else if (const auto* t = node.as_table()) {
    EmitInlineTable(out, *t);
  } else if (const auto* text = node.as_string()) {
    out << QuoteString(text->get());
  } else {
    node.visit([&](const auto& v) { out << v; });
  }
}

bool IsArrayOfTables(const toml::node& node) {
  const auto* a = node.as_array();
  return a != nullptr && !a->empty() &&
         std::all_of(a->begin(), a->end(), [](const toml::node& n) { return n.is_table(); });
}

void EmitTable(std::ostream& out, const toml::table& table, const std::string& path) {
  // Plain values first (they belong to this table's header), then sub-tables, then arrays of
  // tables, each under its own header.
  for (const auto& [key, value] : table) {
    if (value.is_table() || IsArrayOfTables(value)) continue;
    out << QuoteKey(std::string(key.str())) << " = ";
    EmitValue(out, value);
    out << "\n";
  }
  for (const auto& [key, value] : table) {
    const std::string child = (path.empty() ? "" : path + ".") + QuoteKey(std::string(key.str()));
    if (const auto* t = value.as_table()) {
      out << "\n[" << child << "]\n";
      EmitTable(out, *t, child);
    } else if (IsArrayOfTables(value)) {
      for (const toml::node& element : *value.as_array()) {
        out << "\n[[" << child << "]]\n";
        EmitTable(out, *element.as_table(), child);
      }
    }
  }
}

}  // namespace

std::string Options::ToToml() const {
  if (table_ == nullptr) return "";
  std::ostringstream out;
  EmitTable(out, *AsTable(table_), "");
  std::string text = out.str();
  return text.starts_with("\n") ? text.substr(1) : text;
}

std::string Options::ToJson() const {
  if (table_ == nullptr) return "{}";
  std::ostringstream out;
  out << toml::json_formatter(*AsTable(table_));
  return out.str();
}

}  // namespace modelgrow
