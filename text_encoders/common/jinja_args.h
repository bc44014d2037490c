// Binding a call's arguments to a builtin's Python-style signature.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "common/jinja_value.h"

namespace modelgrow::jinja {

// Matches positional and keyword arguments to `names` in order, as Python binds them, and
// raises Python's TypeError messages (too many arguments, an unexpected or repeated keyword,
// a missing required argument) naming `function`.
class ArgBinder {
 public:
  ArgBinder(std::string function, const CallArgs& args,
            std::initializer_list<std::string_view> names, size_t required = 0);

  // The argument bound to parameter i, or nullptr when the call left it out.
  const Value* Find(size_t i) const { return bound_[i]; }
  bool Has(size_t i) const { return bound_[i] != nullptr && !bound_[i]->is_undefined(); }
  // The argument, or `fallback` when left out (None counts as given, as in Python).
  Value Get(size_t i, Value fallback) const { return bound_[i] ? *bound_[i] : fallback; }

  // Typed views that raise a TypeError naming the parameter when the type is wrong.
  int64_t Int(size_t i, int64_t fallback) const;
  bool Bool(size_t i, bool fallback) const;
  std::string String(size_t i, std::string fallback) const;

 private:
  std::string function_;
  std::vector<std::string_view> names_;
  std::vector<const Value*> bound_;
};

}  // namespace modelgrow::jinja
