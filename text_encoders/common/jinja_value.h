// The values a template computes with, and the Python semantics jinja2 gives them: what is
// true, how values print (str) and show inside containers (repr), equality and ordering.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace modelgrow::jinja {

class Value;
struct ListData;
class DictData;
class ObjectData;
struct FunctionData;
struct UndefinedData;

// Arguments of a call, as Python passes them.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

using NativeFunction = std::function<Value(const CallArgs&)>;

// A value is small and cheap to copy: scalars inline, strings and containers shared. Containers
// are never mutated after construction (transformers renders in jinja2's immutable sandbox),
// except namespace objects, whose attributes `{% set ns.x = ... %}` assigns.
class Value {
 public:
  enum class Kind : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,  // a Python list, or a tuple when ListData::is_tuple
    kDict,
    kObject,    // namespace(), the loop variable
    kFunction,  // macros, globals, bound methods
  };

  // An undefined value with jinja2's message for a missing variable.
  Value();

  static Value Undefined(std::string message);
  static Value None();
  static Value Bool(bool value);
  static Value Int(int64_t value);
  static Value Float(double value);
  static Value String(std::string value);
  static Value List(std::vector<Value> items);
  static Value Tuple(std::vector<Value> items);
  static Value FromList(std::shared_ptr<const ListData> list);
  static Value Dict(std::shared_ptr<const DictData> dict);
  static Value Object(std::shared_ptr<ObjectData> object);
  static Value Function(std::string name, NativeFunction call, std::string repr = "");

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  // int, float or bool: what Python's numbers.Number accepts.
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_function() const { return kind_ == Kind::kFunction; }

  bool AsBool() const { return scalar_.b; }
  int64_t AsInt() const { return scalar_.i; }
  double AsFloat() const { return scalar_.f; }
  // Integer view of an int or bool (Python's bool is an int).
  int64_t AsInteger() const { return is_bool() ? (scalar_.b ? 1 : 0) : scalar_.i; }
  // Float view of any number.
  double AsDouble() const;
  const std::string& AsString() const;
  const ListData& AsList() const;
  const std::vector<Value>& Items() const;
  const DictData& AsDict() const;
  ObjectData& AsObject() const;
  const FunctionData& AsFunction() const;
  const UndefinedData& AsUndefined() const;
  const std::shared_ptr<void>& shared() const { return ptr_; }

 private:
  Kind kind_;
  union Scalar {
    bool b;
    int64_t i;
    double f;
  } scalar_;
  std::shared_ptr<void> ptr_;
};

struct UndefinedData {
  // What using the value raises, e.g. "'foo' is undefined".
  std::string message;
};

struct ListData {
  std::vector<Value> items;
  bool is_tuple = false;
  // Named tuples (groupby's groups) also answer attribute access by these names.
  std::vector<std::string> field_names;
  // "dict_items", "dict_keys" or "dict_values" for what dict.items() & co. return: a list
  // here, but Python prints and serializes these views differently.
  std::string view_name;
};

// A Python dict: insertion-ordered, keys compared with Python equality (1 == 1.0 == True).
class DictData {
 public:
  const std::vector<std::pair<Value, Value>>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  const Value* Find(const Value& key) const;
  const Value* Find(std::string_view key) const;
  // Replaces the value of an existing key in place, as Python does, or appends.
  void Set(Value key, Value value);

 private:
  std::vector<std::pair<Value, Value>> entries_;
};

// Objects with attributes: namespace() and the loop variable.
class ObjectData {
 public:
  virtual ~ObjectData() = default;
  // Python type name, used in messages ("Namespace", "LoopContext").
  virtual std::string TypeName() const = 0;
  // Undefined when the object has no such attribute.
  virtual Value GetAttr(std::string_view name) const = 0;
  // False when the object does not accept attribute assignment.
  virtual bool SetAttr(const std::string& name, Value value);
  virtual std::string Repr() const = 0;
  virtual bool IsCallable() const { return false; }
  virtual Value Call(const CallArgs& args);
};

struct FunctionData {
  std::string name;
  NativeFunction call;
  // What str() shows; "<function NAME>" when empty.
  std::string repr;
};

// --- Python semantics -----------------------------------------------------------------------

// Python's bool(value); Undefined is false.
bool Truthy(const Value& value);
// Python's str(value): what `{{ value }}` prints. Undefined prints as "".
std::string ToStr(const Value& value);
// Python's repr(value): how the value shows inside a printed list or dict.
std::string Repr(const Value& value);
// Python's repr() of a float ("1.0", "0.1", "1e+16", "inf").
std::string FloatRepr(double value);
// Python's repr() of a str (quotes and escapes chosen as Python chooses them).
std::string StringRepr(std::string_view text);
// Python's type(value).__name__ ("str", "int", "NoneType", "list", "Undefined", ...).
std::string TypeName(const Value& value);
// jinja2's object_type_repr: "None", "dict object", "str object", ...
std::string ObjectTypeRepr(const Value& value);

// Python ==. Undefined equals only Undefined.
bool Equals(const Value& a, const Value& b);
enum class OrderOp { kLt, kLe, kGt, kGe };
// Python's <, <=, >, >=; throws EvalError ("'<' not supported between instances of 'str' and
// 'int'") for operands Python cannot order, and jinja2's UndefinedError for undefined ones.
bool Compare(const Value& a, const Value& b, OrderOp op);
bool LessThan(const Value& a, const Value& b);

// Raises the error an undefined value raises when used (jinja2's UndefinedError).
[[noreturn]] void ThrowUndefined(const Value& undefined);
// Throws if the value is undefined; used by every operation jinja2's Undefined refuses.
inline void RequireDefined(const Value& value) {
  if (value.is_undefined()) ThrowUndefined(value);
}

}  // namespace modelgrow::jinja
