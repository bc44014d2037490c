// Read-only access to a parsed JSON document that remembers where each value came from, so every
// error names the file and the JSON path (`tokenizer.json: model.merges[3]: expected a string`).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelgrow::hf {

class JsonView {
 public:
  // `file` must outlive the view (views only live while a file is being loaded).
  JsonView(const nlohmann::json& node, const std::string& file, std::string path = "")
      : node_(&node), file_(&file), path_(std::move(path)) {}

  const nlohmann::json& node() const { return *node_; }
  const std::string& file() const { return *file_; }
  // "model.vocab", "pre_tokenizer.pretokenizers[1]"; empty for the document itself.
  const std::string& path() const { return path_; }

  bool IsNull() const { return node_->is_null(); }
  bool IsString() const { return node_->is_string(); }
  bool IsObject() const { return node_->is_object(); }
  bool IsArray() const { return node_->is_array(); }

  // A member that must exist (null counts as existing).
  JsonView operator[](std::string_view key) const;
  // True when the member exists and is not null.
  bool Has(std::string_view key) const;
  JsonView At(size_t index) const;
  // A view of a child node found by iterating node() directly (for error messages in hot
  // loops, which would otherwise build a path string per element).
  JsonView Member(const nlohmann::json& child, std::string_view key) const;
  JsonView Element(const nlohmann::json& child, size_t index) const;
  size_t Size() const;  // array or object size

  std::string String() const;
  bool Bool() const;
  int64_t Int() const;
  double Number() const;
  std::vector<JsonView> Elements() const;  // array elements

  // Optional members: the fallback when absent or null, else the typed value.
  std::string StringOr(std::string_view key, std::string fallback) const;
  bool BoolOr(std::string_view key, bool fallback) const;
  int64_t IntOr(std::string_view key, int64_t fallback) const;

  // The member `type` as a string, with an error naming the path when absent.
  std::string Type() const;

  // "<file>: <path>: <message>"
  std::string Where(std::string_view message) const;
  [[noreturn]] void Fail(std::string_view message) const;
  // "<file>: <path>.type: unsupported '<type>' (supported: ...)"
  [[noreturn]] void Unsupported(std::string_view type, std::string_view supported) const;

 private:
  std::string Child(std::string_view key) const;
  [[noreturn]] void Expected(std::string_view what) const;

  const nlohmann::json* node_;
  const std::string* file_;
  std::string path_;
};

}  // namespace modelgrow::hf
