#include "common/jinja_value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "common/jinja_error.h"
#include "common/jinja_unicode.h"

namespace modelgrow::jinja {

Value::Value() : kind_(Kind::kUndefined), scalar_{} {}

Value Value::Undefined(std::string message) {
  Value v;
  v.ptr_ = std::make_shared<UndefinedData>(UndefinedData{std::move(message)});
  return v;
}

Value Value::None() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::Bool(bool value) {
  Value v;
  v.kind_ = Kind::kBool;
  v.scalar_.b = value;
  return v;
}

Value Value::Int(int64_t value) {
  Value v;
  v.kind_ = Kind::kInt;
  v.scalar_.i = value;
  return v;
}

Value Value::Float(double value) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.scalar_.f = value;
  return v;
}

Value Value::String(std::string value) {
  Value v;
  v.kind_ = Kind::kString;
  v.ptr_ = std::make_shared<std::string>(std::move(value));
  return v;
}

Value Value::List(std::vector<Value> items) {
  auto list = std::make_shared<ListData>();
  list->items = std::move(items);
  return FromList(std::move(list));
}

Value Value::Tuple(std::vector<Value> items) {
  auto list = std::make_shared<ListData>();
  list->items = std::move(items);
  list->is_tuple = true;
  return FromList(std::move(list));
}

Value Value::FromList(std::shared_ptr<const ListData> list) {
  Value v;
  v.kind_ = Kind::kList;
  v.ptr_ = std::const_pointer_cast<ListData>(std::move(list));
  return v;
}

Value Value::Dict(std::shared_ptr<const DictData> dict) {
  Value v;
  v.kind_ = Kind::kDict;
  v.ptr_ = std::const_pointer_cast<DictData>(std::move(dict));
  return v;
}

Value Value::Object(std::shared_ptr<ObjectData> object) {
  Value v;
  v.kind_ = Kind::kObject;
  v.ptr_ = std::move(object);
  return v;
}

Value Value::Function(std::string name, NativeFunction call, std::string repr) {
  Value v;
  v.kind_ = Kind::kFunction;
  v.ptr_ = std::make_shared<FunctionData>(
      FunctionData{std::move(name), std::move(call), std::move(repr)});
  return v;
}

double Value::AsDouble() const {
  switch (kind_) {
    case Kind::kFloat:
      return scalar_.f;
    case Kind::kInt:
      return static_cast<double>(scalar_.i);
    case Kind::kBool:
      return scalar_.b ? 1.0 : 0.0;
    default:
      return 0.0;
  }
}

const std::string& Value::AsString() const { return *static_cast<const std::string*>(ptr_.get()); }
const ListData& Value::AsList() const { return *static_cast<const ListData*>(ptr_.get()); }
const std::vector<Value>& Value::Items() const { return AsList().items; }
const DictData& Value::AsDict() const { return *static_cast<const DictData*>(ptr_.get()); }
ObjectData& Value::AsObject() const { return *static_cast<ObjectData*>(ptr_.get()); }
const FunctionData& Value::AsFunction() const {
  return *static_cast<const FunctionData*>(ptr_.get());
}

const UndefinedData& Value::AsUndefined() const {
  static const UndefinedData kAnonymous{"the value is undefined"};
  return ptr_ ? *static_cast<const UndefinedData*>(ptr_.get()) : kAnonymous;
}

const Value* DictData::Find(const Value& key) const {
  if (key.is_string()) return Find(std::string_view(key.AsString()));
  for (const auto& [k, v] : entries_) {
    if (Equals(k, key)) return &v;
  }
  return nullptr;
}

const Value* DictData::Find(std::string_view key) const {
  for (const auto& [k, v] : entries_) {
    if (k.is_string() && k.AsString() == key) return &v;
  }
  return nullptr;
}

void DictData::Set(Value key, Value value) {
  for (auto& entry : entries_) {
    if (Equals(entry.first, key)) {
      entry.second = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::move(key), std::move(value));
}

bool ObjectData::SetAttr(const std::string&, Value) { return false; }

Value ObjectData::Call(const CallArgs&) {
  throw EvalError("'" + TypeName() + "' object is not callable");
}

bool Truthy(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return false;
    case Value::Kind::kBool:
      return value.AsBool();
    case Value::Kind::kInt:
      return value.AsInt() != 0;
    case Value::Kind::kFloat:
      return value.AsFloat() != 0.0;
    case Value::Kind::kString:
      return !value.AsString().empty();
    case Value::Kind::kList:
      return !value.Items().empty();
    case Value::Kind::kDict:
      return value.AsDict().size() != 0;
    case Value::Kind::kObject:
    case Value::Kind::kFunction:
      return true;
  }
  return false;
}

std::string FloatRepr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == 0.0) return std::signbit(value) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then laid out the way Python's float_repr_style 'r' does:
  // positional for exponents in [-4, 16), scientific otherwise.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  size_t e_pos = sci.find('e');
  int exponent = std::stoi(sci.substr(e_pos + 1));
  std::string digits;
  for (size_t i = 0; i < e_pos; ++i) {
    if (sci[i] != '.') digits.push_back(sci[i]);
  }
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<size_t>(exponent) + 1 >= digits.size()) {
      out += digits + std::string(exponent + 1 - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, exponent + 1) + "." + digits.substr(exponent + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char exp_buf[16];
  std::snprintf(exp_buf, sizeof(exp_buf), "e%c%02d", exponent < 0 ? '-' : '+',
                exponent < 0 ? -exponent : exponent);
  return out + exp_buf;
}

std::string StringRepr(std::string_view text) {
  bool has_single = text.find('\'') != std::string_view::npos;
  bool has_double = text.find('"') != std::string_view::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  auto append_hex = [&out](const char* prefix, unsigned value, int width) {
    char buf[16];
    std::snprintf(buf, sizeof(buf), "%s%0*x", prefix, width, value);
    out += buf;
  };
  for (char32_t c : unicode::Decode(text)) {
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (unicode::IsPrintable(c)) {
      unicode::AppendUtf8(out, c);
    } else if (c <= 0xFF) {
      append_hex("\\x", c, 2);
    } else if (c <= 0xFFFF) {
      append_hex("\\u", c, 4);
    } else {
      append_hex("\\U", c, 8);
    }
  }
  out.push_back(quote);
  return out;
}

namespace {

void AppendRepr(std::string& out, const Value& value);

void AppendSequence(std::string& out, const ListData& list) {
  if (!list.view_name.empty()) out += list.view_name + "(";
  out.push_back(list.is_tuple ? '(' : '[');
  for (size_t i = 0; i < list.items.size(); ++i) {
    if (i > 0) out += ", ";
    AppendRepr(out, list.items[i]);
  }
  if (list.is_tuple && list.items.size() == 1) out.push_back(',');
  out.push_back(list.is_tuple ? ')' : ']');
  if (!list.view_name.empty()) out.push_back(')');
}

void AppendRepr(std::string& out, const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      out += "Undefined";
      return;
    case Value::Kind::kString:
      out += StringRepr(value.AsString());
      return;
    case Value::Kind::kList:
      AppendSequence(out, value.AsList());
      return;
    case Value::Kind::kDict: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, v] : value.AsDict().entries()) {
        if (!first) out += ", ";
        first = false;
        AppendRepr(out, k);
        out += ": ";
        AppendRepr(out, v);
      }
      out.push_back('}');
      return;
    }
    default:
      out += ToStr(value);
  }
}

}  // namespace

std::string Repr(const Value& value) {
  std::string out;
  AppendRepr(out, value);
  return out;
}

std::string ToStr(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return "";
    case Value::Kind::kNone:
      return "None";
    case Value::Kind::kBool:
      return value.AsBool() ? "True" : "False";
    case Value::Kind::kInt:
      return std::to_string(value.AsInt());
    case Value::Kind::kFloat:
      return FloatRepr(value.AsFloat());
    case Value::Kind::kString:
      return value.AsString();
    case Value::Kind::kList:
    case Value::Kind::kDict:
      return Repr(value);
    case Value::Kind::kObject:
      return value.AsObject().Repr();
    case Value::Kind::kFunction:
      if (!value.AsFunction().repr.empty()) return value.AsFunction().repr;
      return "<function " + value.AsFunction().name + ">";
  }
  return "";
}

std::string TypeName(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return "Undefined";
    case Value::Kind::kNone:
      return "NoneType";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "int";
    case Value::Kind::kFloat:
      return "float";
    case Value::Kind::kString:
      return "str";
    case Value::Kind::kList:
      if (!value.AsList().view_name.empty()) return value.AsList().view_name;
      return value.AsList().is_tuple ? "tuple" : "list";
    case Value::Kind::kDict:
      return "dict";
    case Value::Kind::kObject:
      return value.AsObject().TypeName();
    case Value::Kind::kFunction:
      return "function";
  }
  return "object";
}

std::string ObjectTypeRepr(const Value& value) {
  if (value.is_none()) return "None";
  return TypeName(value) + " object";
}

bool Equals(const Value& a, const Value& b) {
  using Kind = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.AsDouble() == b.AsDouble();
    return a.AsInteger() == b.AsInteger();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kString:
      return a.AsString() == b.AsString();
    case Kind::kList: {
      const ListData& x = a.AsList();
      const ListData& y = b.AsList();
      if (x.is_tuple != y.is_tuple || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i) {
        if (!Equals(x.items[i], y.items[i])) return false;
      }
      return true;
    }
    case Kind::kDict: {
      const DictData& x = a.AsDict();
      const DictData& y = b.AsDict();
      if (x.size() != y.size()) return false;
      for (const auto& [k, v] : x.entries()) {
        const Value* other = y.Find(k);
        if (other == nullptr || !Equals(v, *other)) return false;
      }
      return true;
    }
    default:
      return a.shared() == b.shared();
  }
}

namespace {

template <typename T>
bool Ordered(const T& x, const T& y, OrderOp op) {
  switch (op) {
    case OrderOp::kLt:
      return x < y;
    case OrderOp::kLe:
      return x <= y;
    case OrderOp::kGt:
      return x > y;
    case OrderOp::kGe:
      return x >= y;
  }
  return false;
}

const char* OpSymbol(OrderOp op) {
  switch (op) {
    case OrderOp::kLt:
      return "<";
    case OrderOp::kLe:
      return "<=";
    case OrderOp::kGt:
      return ">";
    case OrderOp::kGe:
      return ">=";
  }
  return "?";
}

}  // namespace

bool Compare(const Value& a, const Value& b, OrderOp op) {
  RequireDefined(a);
  RequireDefined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return Ordered(a.AsDouble(), b.AsDouble(), op);
    return Ordered(a.AsInteger(), b.AsInteger(), op);
  }
  if (a.is_string() && b.is_string()) return Ordered(a.AsString(), b.AsString(), op);
  if (a.is_list() && b.is_list() && a.AsList().is_tuple == b.AsList().is_tuple) {
    // Python compares sequences at their first difference, with the same operator.
    const auto& x = a.Items();
    const auto& y = b.Items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!Equals(x[i], y[i])) return Compare(x[i], y[i], op);
    }
    return Ordered(x.size(), y.size(), op);
  }
  throw EvalError(std::string("'") + OpSymbol(op) + "' not supported between instances of '" +
                  TypeName(a) + "' and '" + TypeName(b) + "'");
}

bool LessThan(const Value& a, const Value& b) { return Compare(a, b, OrderOp::kLt); }

void ThrowUndefined(const Value& undefined) { throw EvalError(undefined.AsUndefined().message); }

}  // namespace modelgrow::jinja
