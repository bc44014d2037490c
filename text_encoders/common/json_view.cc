#include "common/json_view.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "common/tokenizer_error.h"

namespace modelgrow::hf {

namespace {

std::string KindOf(const nlohmann::json& node) {
  switch (node.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::object:
      return "an object";
    default:
      return "a number";
  }
}

}  // namespace

std::string JsonView::Child(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

std::string JsonView::Where(std::string_view message) const {
  std::string out = *file_;
  if (!path_.empty()) out += ": " + path_;
  out += ": ";
  out += message;
  return out;
}

void JsonView::Fail(std::string_view message) const { throw TokenizerError(Where(message)); }

void JsonView::Expected(std::string_view what) const {
  Fail("expected " + std::string(what) + ", got " + KindOf(*node_));
}

void JsonView::Unsupported(std::string_view type, std::string_view supported) const {
  JsonView where(*node_, *file_, Child("type"));
  where.Fail("unsupported '" + std::string(type) + "' (supported: " + std::string(supported) + ")");
}

JsonView JsonView::operator[](std::string_view key) const {
  if (!node_->is_object()) Expected("an object");
  auto it = node_->find(key);
  if (it == node_->end()) Fail("missing member '" + std::string(key) + "'");
  return JsonView(*it, *file_, Child(key));
}

bool JsonView::Has(std::string_view key) const {
  if (!node_->is_object()) return false;
  auto it = node_->find(key);
  return it != node_->end() && !it->is_null();
}

JsonView JsonView::At(size_t index) const {
  if (!node_->is_array()) Expected("an array");
  if (index >= node_->size()) Fail("index " + std::to_string(index) + " out of range");
  return Element((*node_)[index], index);
}

size_t JsonView::Size() const {
  if (!node_->is_array() && !node_->is_object()) Expected("an array or an object");
  return node_->size();
}

JsonView JsonView::Member(const nlohmann::json& child, std::string_view key) const {
  return JsonView(child, *file_, path_ + "[" + nlohmann::json(std::string(key)).dump() + "]");
}

JsonView JsonView::Element(const nlohmann::json& child, size_t index) const {
  return JsonView(child, *file_, path_ + "[" + std::to_string(index) + "]");
}

std::string JsonView::String() const {
  if (!node_->is_string()) Expected("a string");
  return node_->get_ref<const std::string&>();
}

bool JsonView::Bool() const {
  if (!node_->is_boolean()) Expected("a boolean");
  return node_->get<bool>();
}

int64_t JsonView::Int() const {
  if (node_->is_number_unsigned()) {
    // Above int64's range it would wrap to a negative number.
    const uint64_t value = node_->get<uint64_t>();
    if (value <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return static_cast<int64_t>(value);
  } else if (node_->is_number_integer()) {
    return node_->get<int64_t>();
  } else if (node_->is_number_float()) {
    // Range-checked before the cast, which is undefined behaviour outside int64 (1e20, NaN).
    const double value = node_->get<double>();
    if (value >= -0x1p63 && value < 0x1p63 && value == std::trunc(value))
      return static_cast<int64_t>(value);
  }
  Expected("an integer");
}

double JsonView::Number() const {
  if (!node_->is_number()) Expected("a number");
  return node_->get<double>();
}

std::vector<JsonView> JsonView::Elements() const {
  if (!node_->is_array()) Expected("an array");
  std::vector<JsonView> out;
  out.reserve(node_->size());
  for (size_t i = 0; i < node_->size(); ++i) {
    out.push_back(Element((*node_)[i], i));
  }
  return out;
}

std::string JsonView::StringOr(std::string_view key, std::string fallback) const {
  return Has(key) ? (*this)[key].String() : fallback;
}

bool JsonView::BoolOr(std::string_view key, bool fallback) const {
  return Has(key) ? (*this)[key].Bool() : fallback;
}

int64_t JsonView::IntOr(std::string_view key, int64_t fallback) const {
  return Has(key) ? (*this)[key].Int() : fallback;
}

std::string JsonView::Type() const {
  if (!node_->is_object()) Expected("an object");
  if (!Has("type")) Fail("missing member 'type'");
  return (*this)["type"].String();
}

}  // namespace modelgrow::hf
