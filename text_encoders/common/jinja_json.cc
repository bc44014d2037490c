#include "common/jinja_json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include "common/jinja_error.h"
#include "common/jinja_unicode.h"

namespace modelgrow::jinja {

namespace {

template <typename Json>
Value Convert(const Json& json) {
  switch (json.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return Value::None();
    case nlohmann::json::value_t::boolean:
      return Value::Bool(json.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::Int(json.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = json.template get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        throw std::invalid_argument("context value " + std::to_string(u) +
                                    " does not fit in a signed 64-bit integer");
      }
      return Value::Int(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value::Float(json.template get<double>());
    case nlohmann::json::value_t::string:
      return Value::String(json.template get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(Convert(item));
      return Value::List(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      auto dict = std::make_shared<DictData>();
      for (auto it = json.begin(); it != json.end(); ++it) {
        dict->Set(Value::String(it.key()), Convert(it.value()));
      }
      return Value::Dict(std::move(dict));
    }
    case nlohmann::json::value_t::binary:
      throw std::invalid_argument("binary JSON values have no template equivalent");
  }
  return Value::None();
}

void AppendEscaped(std::string& out, std::string_view text, bool ensure_ascii) {
  auto hex4 = [&out](unsigned code) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "\\u%04x", code);
    out += buf;
  };
  out.push_back('"');
  if (!ensure_ascii) {
    for (char ch : text) {
      unsigned char c = static_cast<unsigned char>(ch);
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20) {
            hex4(c);
          } else {
            out.push_back(ch);
          }
      }
    }
  } else {
    for (char32_t c : unicode::Decode(text)) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c >= 0x20 && c < 0x7F) {
            out.push_back(static_cast<char>(c));
          } else if (c > 0xFFFF) {
            char32_t v = c - 0x10000;
            hex4(0xD800 | ((v >> 10) & 0x3FF));
            hex4(0xDC00 | (v & 0x3FF));
          } else {
            hex4(c);
          }
      }
    }
  }
  out.push_back('"');
}

std::string JsonFloat(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  return FloatRepr(value);
}

class Dumper {
 public:
  explicit Dumper(const JsonDumpOptions& options) : options_(options) {
    item_separator_ = options.item_separator.value_or(options.indent ? "," : ", ");
    key_separator_ = options.key_separator.value_or(": ");
  }

  void Dump(const Value& value, int level) {
    switch (value.kind()) {
      case Value::Kind::kNone:
        out_ += "null";
        return;
      case Value::Kind::kBool:
        out_ += value.AsBool() ? "true" : "false";
        return;
      case Value::Kind::kInt:
        out_ += std::to_string(value.AsInt());
        return;
      case Value::Kind::kFloat:
        out_ += JsonFloat(value.AsFloat());
        return;
      case Value::Kind::kString:
        AppendEscaped(out_, value.AsString(), options_.ensure_ascii);
        return;
      case Value::Kind::kList: {
        if (!value.AsList().view_name.empty()) {
          throw EvalError("Object of type " + TypeName(value) + " is not JSON serializable");
        }
        const auto& items = value.Items();
        if (items.empty()) {
          out_ += "[]";
          return;
        }
        out_.push_back('[');
        for (size_t i = 0; i < items.size(); ++i) {
          out_ += i == 0 ? Newline(level + 1) : item_separator_ + Newline(level + 1);
          Dump(items[i], level + 1);
        }
        out_ += Newline(level);
        out_.push_back(']');
        return;
      }
      case Value::Kind::kDict: {
        std::vector<std::pair<std::string, const Value*>> entries;
        for (const auto& [k, v] : value.AsDict().entries()) entries.emplace_back(Key(k), &v);
        if (entries.empty()) {
          out_ += "{}";
          return;
        }
        if (options_.sort_keys) {
          std::stable_sort(entries.begin(), entries.end(),
                           [](const auto& a, const auto& b) { return a.first < b.first; });
        }
        out_.push_back('{');
        for (size_t i = 0; i < entries.size(); ++i) {
          out_ += i == 0 ? Newline(level + 1) : item_separator_ + Newline(level + 1);
          AppendEscaped(out_, entries[i].first, options_.ensure_ascii);
          out_ += key_separator_;
          Dump(*entries[i].second, level + 1);
        }
        out_ += Newline(level);
        out_.push_back('}');
        return;
      }
      default:
        throw EvalError("Object of type " + TypeName(value) + " is not JSON serializable");
    }
  }

  std::string Take() { return std::move(out_); }

 private:
  std::string Newline(int level) const {
    if (!options_.indent) return "";
    std::string s = "\n";
    for (int i = 0; i < level; ++i) s += *options_.indent;
    return s;
  }

  // Python's json converts these key types to strings; anything else is a TypeError.
  static std::string Key(const Value& key) {
    switch (key.kind()) {
      case Value::Kind::kString:
        return key.AsString();
      case Value::Kind::kNone:
        return "null";
      case Value::Kind::kBool:
        return key.AsBool() ? "true" : "false";
      case Value::Kind::kInt:
        return std::to_string(key.AsInt());
      case Value::Kind::kFloat:
        return JsonFloat(key.AsFloat());
      default:
        throw EvalError("keys must be str, int, float, bool or None, not " + TypeName(key));
    }
  }

  const JsonDumpOptions& options_;
  std::string item_separator_;
  std::string key_separator_;
  std::string out_;
};

}  // namespace

Value FromJson(const nlohmann::ordered_json& json) { return Convert(json); }
Value FromJson(const nlohmann::json& json) { return Convert(json); }

std::string DumpJson(const Value& value, const JsonDumpOptions& options) {
  Dumper dumper(options);
  dumper.Dump(value, 0);
  return dumper.Take();
}

}  // namespace modelgrow::jinja
