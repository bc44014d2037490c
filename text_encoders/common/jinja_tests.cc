// jinja2's builtin tests (`x is defined`, `x is divisibleby 3`, ...).
#include <string>
#include <unordered_map>

#include "common/jinja_args.h"
#include "common/jinja_builtins.h"
#include "common/jinja_error.h"
#include "common/jinja_ops.h"
#include "common/jinja_strings.h"

namespace modelgrow::jinja {

namespace {

const Value& Other(const CallArgs& args, const char* test) {
  if (args.positional.size() != 1 || !args.keyword.empty()) {
    throw EvalError(std::string("the test '") + test + "' takes exactly one argument");
  }
  return args.positional[0];
}

void NoArgs(const CallArgs& args, const char* test) {
  if (!args.positional.empty() || !args.keyword.empty()) {
    throw EvalError(std::string("the test '") + test + "' takes no arguments");
  }
}

bool ModuloIs(const Value& value, const Value& divisor, int64_t expected) {
  return Equals(BinaryOperation(BinaryOp::kMod, value, divisor), Value::Int(expected));
}

bool Odd(const Value& v, const CallArgs& a) {
  NoArgs(a, "odd");
  return ModuloIs(v, Value::Int(2), 1);
}
bool Even(const Value& v, const CallArgs& a) {
  NoArgs(a, "even");
  return ModuloIs(v, Value::Int(2), 0);
}
bool DivisibleBy(const Value& v, const CallArgs& a) {
  ArgBinder b("divisibleby", a, {"num"}, 1);
  return ModuloIs(v, *b.Find(0), 0);
}
bool Defined(const Value& v, const CallArgs& a) {
  NoArgs(a, "defined");
  return !v.is_undefined();
}
bool Undefined(const Value& v, const CallArgs& a) {
  NoArgs(a, "undefined");
  return v.is_undefined();
}
bool None(const Value& v, const CallArgs& a) {
  NoArgs(a, "none");
  return v.is_none();
}
bool Boolean(const Value& v, const CallArgs& a) {
  NoArgs(a, "boolean");
  return v.is_bool();
}
bool False(const Value& v, const CallArgs& a) {
  NoArgs(a, "false");
  return v.is_bool() && !v.AsBool();
}
bool True(const Value& v, const CallArgs& a) {
  NoArgs(a, "true");
  return v.is_bool() && v.AsBool();
}
bool Integer(const Value& v, const CallArgs& a) {
  NoArgs(a, "integer");
  return v.is_int();
}
bool Float(const Value& v, const CallArgs& a) {
  NoArgs(a, "float");
  return v.is_float();
}
bool Lower(const Value& v, const CallArgs& a) {
  NoArgs(a, "lower");
  return pystr::IsLowerText(ToStr(v));
}
bool Upper(const Value& v, const CallArgs& a) {
  NoArgs(a, "upper");
  return pystr::IsUpperText(ToStr(v));
}
bool String(const Value& v, const CallArgs& a) {
  NoArgs(a, "string");
  return v.is_string();
}
bool Mapping(const Value& v, const CallArgs& a) {
  NoArgs(a, "mapping");
  return v.is_dict();
}
bool Number(const Value& v, const CallArgs& a) {
  NoArgs(a, "number");
  return v.is_number();
}
// len() and __getitem__: str, list, tuple, dict, and jinja2's Undefined (which has both).
bool Sequence(const Value& v, const CallArgs& a) {
  NoArgs(a, "sequence");
  return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
}
// iter() works: str, list, tuple, dict, Undefined and the loop object.
bool Iterable(const Value& v, const CallArgs& a) {
  NoArgs(a, "iterable");
  return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined() ||
         (v.is_object() && v.AsObject().TypeName() == "LoopContext");
}
// Functions, macros, the loop object and Undefined (whose __call__ raises) are callable.
bool Callable(const Value& v, const CallArgs& a) {
  NoArgs(a, "callable");
  return v.is_function() || v.is_undefined() || (v.is_object() && v.AsObject().IsCallable());
}
bool SameAs(const Value& v, const CallArgs& a) {
  const Value& other = Other(a, "sameas");
  if (v.kind() != other.kind()) return false;
  switch (v.kind()) {
    case Value::Kind::kNone:
    case Value::Kind::kUndefined:
      return v.kind() == Value::Kind::kNone || v.shared() == other.shared();
    case Value::Kind::kBool:
      return v.AsBool() == other.AsBool();
    // CPython caches small ints and interns short strings; equal values are the closest
    // portable reading of identity for them.
    case Value::Kind::kInt:
    case Value::Kind::kFloat:
    case Value::Kind::kString:
      return Equals(v, other);
    default:
      return v.shared() == other.shared();
  }
}
bool In(const Value& v, const CallArgs& a) { return Contains(Other(a, "in"), v); }
bool Eq(const Value& v, const CallArgs& a) { return Equals(v, Other(a, "eq")); }
bool Ne(const Value& v, const CallArgs& a) { return !Equals(v, Other(a, "ne")); }
bool Gt(const Value& v, const CallArgs& a) { return Compare(v, Other(a, "gt"), OrderOp::kGt); }
bool Ge(const Value& v, const CallArgs& a) { return Compare(v, Other(a, "ge"), OrderOp::kGe); }
bool Lt(const Value& v, const CallArgs& a) { return Compare(v, Other(a, "lt"), OrderOp::kLt); }
bool Le(const Value& v, const CallArgs& a) { return Compare(v, Other(a, "le"), OrderOp::kLe); }
bool IsFilter(const Value& v, const CallArgs& a) {
  NoArgs(a, "filter");
  return v.is_string() && FindFilter(v.AsString()) != nullptr;
}
bool IsTest(const Value& v, const CallArgs& a) {
  NoArgs(a, "test");
  return v.is_string() && FindTest(v.AsString()) != nullptr;
}

const std::unordered_map<std::string_view, TestFn>& Tests() {
  static const auto* tests = new std::unordered_map<std::string_view, TestFn>{
      {"odd", Odd},
      {"even", Even},
      {"divisibleby", DivisibleBy},
      {"defined", Defined},
      {"undefined", Undefined},
      {"filter", IsFilter},
      {"test", IsTest},
      {"none", None},
      {"boolean", Boolean},
      {"false", False},
      {"true", True},
      {"integer", Integer},
      {"float", Float},
      {"lower", Lower},
      {"upper", Upper},
      {"string", String},
      {"mapping", Mapping},
      {"number", Number},
      {"sequence", Sequence},
      {"iterable", Iterable},
      {"callable", Callable},
      {"sameas", SameAs},
      {"in", In},
      {"==", Eq},
      {"eq", Eq},
      {"equalto", Eq},
      {"!=", Ne},
      {"ne", Ne},
      {">", Gt},
      {"gt", Gt},
      {"greaterthan", Gt},
      {">=", Ge},
      {"ge", Ge},
      {"<", Lt},
      {"lt", Lt},
      {"lessthan", Lt},
      {"<=", Le},
      {"le", Le},
  };
  return *tests;
}

}  // namespace

TestFn FindTest(std::string_view name) {
  auto it = Tests().find(name);
  return it == Tests().end() ? nullptr : it->second;
}

bool CallTest(std::string_view name, const Value& value, const CallArgs& args) {
  TestFn fn = FindTest(name);
  if (fn == nullptr) throw EvalError(UnknownBuiltinMessage(name, false, false));
  return fn(value, args);
}

}  // namespace modelgrow::jinja
