// JSON in (the render context) and JSON out (the tojson filter, as transformers defines it:
// Python's json.dumps with ensure_ascii=False by default and no HTML escaping).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/jinja_value.h"

namespace modelgrow::jinja {

// JSON null/bool/number/string/array/object become None/bool/int or float/str/list/dict, as
// Python's json.loads makes them (1 is an int, 1.0 a float). Object keys keep the json type's
// order: nlohmann::ordered_json keeps file order as Python does, nlohmann::json sorts keys.
// An integer beyond the signed 64-bit range is an std::invalid_argument.
Value FromJson(const nlohmann::ordered_json& json);
Value FromJson(const nlohmann::json& json);

struct JsonDumpOptions {
  bool ensure_ascii = false;
  // Python's indent: absent for one line; otherwise newlines and this string per level.
  std::optional<std::string> indent;
  // Python's separators; absent means (", ", ": "), or (",", ": ") with an indent.
  std::optional<std::string> item_separator;
  std::optional<std::string> key_separator;
  bool sort_keys = false;
};

// Python's json.dumps(value, ...) byte for byte (floats as repr, NaN/Infinity allowed). Values
// JSON cannot hold (Undefined, macros, namespaces) raise EvalError "Object of type X is not
// JSON serializable".
std::string DumpJson(const Value& value, const JsonDumpOptions& options);

}  // namespace modelgrow::jinja
