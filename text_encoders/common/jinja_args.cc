#include "common/jinja_args.h"

#include "common/jinja_error.h"

namespace modelgrow::jinja {

ArgBinder::ArgBinder(std::string function, const CallArgs& args,
                     std::initializer_list<std::string_view> names, size_t required)
    : function_(std::move(function)), names_(names), bound_(names.size(), nullptr) {
  if (args.positional.size() > names_.size()) {
    throw EvalError(function_ + "() takes at most " + std::to_string(names_.size()) +
                    " argument(s) (" + std::to_string(args.positional.size()) + " given)");
  }
  for (size_t i = 0; i < args.positional.size(); ++i) bound_[i] = &args.positional[i];
  for (const auto& [key, value] : args.keyword) {
    size_t i = 0;
    while (i < names_.size() && names_[i] != key) ++i;
    if (i == names_.size()) {
      throw EvalError(function_ + "() got an unexpected keyword argument '" + key + "'");
    }
    if (bound_[i] != nullptr) {
      throw EvalError(function_ + "() got multiple values for argument '" + key + "'");
    }
    bound_[i] = &value;
  }
  for (size_t i = 0; i < required; ++i) {
    if (bound_[i] == nullptr) {
      throw EvalError(function_ + "() missing required argument '" + std::string(names_[i]) + "'");
    }
  }
}

int64_t ArgBinder::Int(size_t i, int64_t fallback) const {
  if (bound_[i] == nullptr) return fallback;
  const Value& v = *bound_[i];
  if (v.is_int() || v.is_bool()) return v.AsInteger();
  RequireDefined(v);
  throw EvalError(function_ + "(): argument '" + std::string(names_[i]) +
                  "' must be an integer, not " + TypeName(v));
}

bool ArgBinder::Bool(size_t i, bool fallback) const {
  if (bound_[i] == nullptr) return fallback;
  return Truthy(*bound_[i]);
}

std::string ArgBinder::String(size_t i, std::string fallback) const {
  if (bound_[i] == nullptr) return fallback;
  const Value& v = *bound_[i];
  if (v.is_string()) return v.AsString();
  RequireDefined(v);
  throw EvalError(function_ + "(): argument '" + std::string(names_[i]) +
                  "' must be a string, not " + TypeName(v));
}

}  // namespace modelgrow::jinja
