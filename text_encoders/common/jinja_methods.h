// Methods templates call on values: message.content.strip(), tool.items(), ...
#pragma once

#include <optional>
#include <string_view>

#include "common/jinja_value.h"

namespace modelgrow::jinja {

// The method `name` of `receiver` bound to it, as Python's getattr would give it; nullopt when
// the type has no such (supported) method.
//   str:   strip lstrip rstrip split rsplit splitlines startswith endswith upper lower title
//          capitalize swapcase casefold replace find rfind index rindex count join format
//          isdigit isdecimal isnumeric isalpha isalnum isspace islower isupper center ljust
//          rjust zfill partition rpartition removeprefix removesuffix
//   dict:  items keys values get copy
//   list / tuple: index count (list also copy)
std::optional<Value> FindMethod(const Value& receiver, std::string_view name);

// Methods the immutable sandbox refuses because they would change a list or dict (append,
// pop, update, ...).
bool IsUnsafeMethod(const Value& receiver, std::string_view name);

}  // namespace modelgrow::jinja
