#include "common/jinja_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include "common/jinja_error.h"
#include "common/jinja_format.h"
#include "common/jinja_methods.h"
#include "common/jinja_unicode.h"

namespace modelgrow::jinja {

namespace {

// Results larger than this are refused rather than built ('x' * 10**12 would exhaust memory).
constexpr size_t kMaxRepeatBytes = size_t{1} << 28;

const char* Symbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "+";
    case BinaryOp::kSub:
      return "-";
    case BinaryOp::kMul:
      return "*";
    case BinaryOp::kDiv:
      return "/";
    case BinaryOp::kFloorDiv:
      return "//";
    case BinaryOp::kMod:
      return "%";
    case BinaryOp::kPow:
      return "** or pow()";
  }
  return "?";
}

[[noreturn]] void Unsupported(BinaryOp op, const Value& a, const Value& b) {
  throw EvalError(std::string("unsupported operand type(s) for ") + Symbol(op) + ": '" +
                  TypeName(a) + "' and '" + TypeName(b) + "'");
}

[[noreturn]] void Overflow() {
  throw EvalError(
      "integer overflow: the result does not fit in 64 bits (Python would use a big integer)");
}

bool IsIntegral(const Value& v) { return v.is_int() || v.is_bool(); }

double PyFloatMod(double x, double y) {
  double mod = std::fmod(x, y);
  if (mod != 0.0) {
    if ((y < 0) != (mod < 0)) mod += y;
  } else {
    mod = std::copysign(0.0, y);
  }
  return mod;
}

double PyFloatFloorDiv(double x, double y) {
  double mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0.0 && ((y < 0) != (mod < 0))) div -= 1.0;
  if (div == 0.0) return std::copysign(0.0, x / y);
  double floordiv = std::floor(div);
  if (div - floordiv > 0.5) floordiv += 1.0;
  return floordiv;
}

Value Repeat(const Value& sequence, int64_t times) {
  if (times < 0) times = 0;
  if (sequence.is_string()) {
    const std::string& s = sequence.AsString();
    if (!s.empty() && static_cast<size_t>(times) > kMaxRepeatBytes / s.size()) Overflow();
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out += s;
    return Value::String(std::move(out));
  }
  const ListData& list = sequence.AsList();
  if (!list.items.empty() && static_cast<size_t>(times) > kMaxRepeatBytes / list.items.size()) {
    Overflow();
  }
  std::vector<Value> out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), list.items.begin(), list.items.end());
  return list.is_tuple ? Value::Tuple(std::move(out)) : Value::List(std::move(out));
}

Value IntPow(int64_t base, int64_t exponent) {
  int64_t result = 1;
  int64_t b = base;
  int64_t e = exponent;
  while (e > 0) {
    if (e & 1) {
      if (__builtin_mul_overflow(result, b, &result)) Overflow();
    }
    e >>= 1;
    if (e > 0 && __builtin_mul_overflow(b, b, &b)) Overflow();
  }
  return Value::Int(result);
}

Value Arithmetic(BinaryOp op, const Value& a, const Value& b) {
  if (IsIntegral(a) && IsIntegral(b)) {
    int64_t x = a.AsInteger();
    int64_t y = b.AsInteger();
    int64_t r = 0;
    switch (op) {
      case BinaryOp::kAdd:
        if (__builtin_add_overflow(x, y, &r)) Overflow();
        return Value::Int(r);
      case BinaryOp::kSub:
        if (__builtin_sub_overflow(x, y, &r)) Overflow();
        return Value::Int(r);
      case BinaryOp::kMul:
        if (__builtin_mul_overflow(x, y, &r)) Overflow();
        return Value::Int(r);
      case BinaryOp::kDiv:
        if (y == 0) throw EvalError("division by zero");
        return Value::Float(static_cast<double>(x) / static_cast<double>(y));
      case BinaryOp::kFloorDiv: {
        if (y == 0) throw EvalError("integer division or modulo by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) Overflow();
        int64_t q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
        return Value::Int(q);
      }
      case BinaryOp::kMod: {
        if (y == 0) throw EvalError("integer modulo by zero");
        if (y == -1) return Value::Int(0);
        int64_t m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return Value::Int(m);
      }
      case BinaryOp::kPow:
        if (y >= 0) return IntPow(x, y);
        if (x == 0) throw EvalError("0.0 cannot be raised to a negative power");
        return Value::Float(std::pow(static_cast<double>(x), static_cast<double>(y)));
    }
  }
  double x = a.AsDouble();
  double y = b.AsDouble();
  switch (op) {
    case BinaryOp::kAdd:
      return Value::Float(x + y);
    case BinaryOp::kSub:
      return Value::Float(x - y);
    case BinaryOp::kMul:
      return Value::Float(x * y);
    case BinaryOp::kDiv:
      if (y == 0.0) throw EvalError("float division by zero");
      return Value::Float(x / y);
    case BinaryOp::kFloorDiv:
      if (y == 0.0) throw EvalError("float floor division by zero");
      return Value::Float(PyFloatFloorDiv(x, y));
    case BinaryOp::kMod:
      if (y == 0.0) throw EvalError("float modulo");
      return Value::Float(PyFloatMod(x, y));
    case BinaryOp::kPow:
      if (x == 0.0 && y < 0) throw EvalError("0.0 cannot be raised to a negative power");
      if (x < 0 && y != std::floor(y)) {
        throw EvalError("a negative number raised to a fractional power is a complex number");
      }
      return Value::Float(std::pow(x, y));
  }
  return Value::None();
}

}  // namespace

Value BinaryOperation(BinaryOp op, const Value& a, const Value& b) {
  RequireDefined(a);
  RequireDefined(b);
  if (a.is_number() && b.is_number()) return Arithmetic(op, a, b);
  switch (op) {
    case BinaryOp::kAdd:
      if (a.is_string()) {
        if (!b.is_string()) {
          throw EvalError("can only concatenate str (not \"" + TypeName(b) + "\") to str");
        }
        return Value::String(a.AsString() + b.AsString());
      }
      if (a.is_list()) {
        if (!b.is_list() || b.AsList().is_tuple != a.AsList().is_tuple) {
          throw EvalError("can only concatenate " + TypeName(a) + " (not \"" + TypeName(b) +
                          "\") to " + TypeName(a));
        }
        std::vector<Value> items = a.Items();
        items.insert(items.end(), b.Items().begin(), b.Items().end());
        return a.AsList().is_tuple ? Value::Tuple(std::move(items)) : Value::List(std::move(items));
      }
      Unsupported(op, a, b);
    case BinaryOp::kMul:
      if ((a.is_string() || a.is_list()) && IsIntegral(b)) return Repeat(a, b.AsInteger());
      if ((b.is_string() || b.is_list()) && IsIntegral(a)) return Repeat(b, a.AsInteger());
      if (a.is_string() || a.is_list() || b.is_string() || b.is_list()) {
        const Value& other = (a.is_string() || a.is_list()) ? b : a;
        throw EvalError("can't multiply sequence by non-int of type '" + TypeName(other) + "'");
      }
      Unsupported(op, a, b);
    case BinaryOp::kMod:
      if (a.is_string()) return Value::String(PercentFormat(a.AsString(), b));
      Unsupported(op, a, b);
    default:
      Unsupported(op, a, b);
  }
}

Value Negate(const Value& value) {
  RequireDefined(value);
  if (value.is_float()) return Value::Float(-value.AsFloat());
  if (IsIntegral(value)) {
    if (value.AsInteger() == std::numeric_limits<int64_t>::min()) Overflow();
    return Value::Int(-value.AsInteger());
  }
  throw EvalError("bad operand type for unary -: '" + TypeName(value) + "'");
}

Value Positive(const Value& value) {
  RequireDefined(value);
  if (value.is_float()) return value;
  if (IsIntegral(value)) return Value::Int(value.AsInteger());
  throw EvalError("bad operand type for unary +: '" + TypeName(value) + "'");
}

bool Contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined:
      return false;
    case Value::Kind::kString:
      if (!item.is_string()) {
        throw EvalError("'in <string>' requires string as left operand, not " + TypeName(item));
      }
      return container.AsString().find(item.AsString()) != std::string::npos;
    case Value::Kind::kList:
      for (const Value& element : container.Items()) {
        if (Equals(element, item)) return true;
      }
      return false;
    case Value::Kind::kDict:
      if (item.is_list() && !item.AsList().is_tuple) throw EvalError("unhashable type: 'list'");
      if (item.is_dict()) throw EvalError("unhashable type: 'dict'");
      return container.AsDict().Find(item) != nullptr;
    default:
      throw EvalError("argument of type '" + TypeName(container) + "' is not iterable");
  }
}

size_t Length(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return 0;
    case Value::Kind::kString:
      return unicode::CodePointCount(value.AsString());
    case Value::Kind::kList:
      return value.Items().size();
    case Value::Kind::kDict:
      return value.AsDict().size();
    default:
      throw EvalError("object of type '" + TypeName(value) + "' has no len()");
  }
}

std::vector<Value> Iterate(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return {};
    case Value::Kind::kString: {
      std::vector<Value> out;
      const std::string& s = value.AsString();
      size_t i = 0;
      while (i < s.size()) {
        size_t j = i + 1;
        while (j < s.size() && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) ++j;
        out.push_back(Value::String(s.substr(i, j - i)));
        i = j;
      }
      return out;
    }
    case Value::Kind::kList:
      return value.Items();
    case Value::Kind::kDict: {
      std::vector<Value> out;
      out.reserve(value.AsDict().size());
      for (const auto& entry : value.AsDict().entries()) out.push_back(entry.first);
      return out;
    }
    default:
      throw EvalError("'" + TypeName(value) + "' object is not iterable");
  }
}

namespace {

Value NoAttribute(const Value& object, std::string_view name) {
  return Value::Undefined("'" + ObjectTypeRepr(object) + "' has no attribute '" +
                          std::string(name) + "'");
}

Value NoElement(const Value& object, const Value& key) {
  return Value::Undefined(ObjectTypeRepr(object) + " has no element " + Repr(key));
}

// Python's attribute lookup alone (no item fallback); nullopt when there is no such attribute.
std::optional<Value> LookupAttribute(const Value& object, std::string_view name) {
  if (object.is_object()) {
    Value attr = object.AsObject().GetAttr(name);
    if (attr.is_undefined()) return std::nullopt;
    return attr;
  }
  if (object.is_list() && !object.AsList().field_names.empty()) {
    const ListData& list = object.AsList();
    for (size_t i = 0; i < list.field_names.size() && i < list.items.size(); ++i) {
      if (list.field_names[i] == name) return list.items[i];
    }
  }
  if (IsUnsafeMethod(object, name)) {
    return Value::Undefined("access to attribute '" + std::string(name) + "' of '" +
                            TypeName(object) + "' object is unsafe.");
  }
  return FindMethod(object, name);
}

int64_t NormalizeIndex(int64_t index, size_t size) {
  return index < 0 ? index + static_cast<int64_t>(size) : index;
}

}  // namespace

std::optional<Value> AttributeOnly(const Value& object, std::string_view name) {
  RequireDefined(object);
  return LookupAttribute(object, name);
}

Value GetItem(const Value& object, const Value& key) {
  RequireDefined(object);
  if (key.is_int() || key.is_bool()) {
    int64_t index = key.AsInteger();
    if (object.is_list()) {
      const auto& items = object.Items();
      int64_t i = NormalizeIndex(index, items.size());
      if (i >= 0 && i < static_cast<int64_t>(items.size())) return items[i];
      return NoElement(object, key);
    }
    if (object.is_string()) {
      const std::string& s = object.AsString();
      if (unicode::IsAscii(s)) {
        int64_t i = NormalizeIndex(index, s.size());
        if (i >= 0 && i < static_cast<int64_t>(s.size())) return Value::String(s.substr(i, 1));
      } else {
        std::u32string text = unicode::Decode(s);
        int64_t i = NormalizeIndex(index, text.size());
        if (i >= 0 && i < static_cast<int64_t>(text.size())) {
          return Value::String(unicode::Encode(text.substr(i, 1)));
        }
      }
      return NoElement(object, key);
    }
  }
  if (object.is_dict()) {
    if (!(key.is_list() && !key.AsList().is_tuple) && !key.is_dict()) {
      if (const Value* found = object.AsDict().Find(key)) return *found;
    }
  }
  if (key.is_string()) {
    if (auto attr = LookupAttribute(object, key.AsString())) return *attr;
    return NoAttribute(object, key.AsString());
  }
  return NoElement(object, key);
}

Value GetAttr(const Value& object, std::string_view name) {
  RequireDefined(object);
  if (auto attr = LookupAttribute(object, name)) return *attr;
  if (object.is_dict()) {
    if (const Value* found = object.AsDict().Find(name)) return *found;
  }
  return NoAttribute(object, name);
}

namespace {

int64_t SliceBound(const Value& bound) {
  if (bound.is_int() || bound.is_bool()) return bound.AsInteger();
  throw EvalError("slice indices must be integers or None or have an __index__ method");
}

bool Absent(const Value& bound) { return bound.is_none() || bound.is_undefined(); }

// Python's PySlice_AdjustIndices: the positions a slice visits in a sequence of `size`.
std::vector<size_t> SlicePositions(size_t size, const Value& start_v, const Value& stop_v,
                                   const Value& step_v) {
  int64_t n = static_cast<int64_t>(size);
  int64_t step = Absent(step_v) ? 1 : SliceBound(step_v);
  if (step == 0) throw EvalError("slice step cannot be zero");
  int64_t start;
  int64_t stop;
  if (step > 0) {
    start = Absent(start_v) ? 0 : SliceBound(start_v);
    stop = Absent(stop_v) ? n : SliceBound(stop_v);
    if (start < 0) start = std::max<int64_t>(start + n, 0);
    if (start > n) start = n;
    if (stop < 0) stop = std::max<int64_t>(stop + n, 0);
    if (stop > n) stop = n;
  } else {
    start = Absent(start_v) ? n - 1 : SliceBound(start_v);
    stop = Absent(stop_v) ? -1 : SliceBound(stop_v);
    if (!Absent(start_v) && start < 0) start = std::max<int64_t>(start + n, -1);
    if (start >= n) start = n - 1;
    if (!Absent(stop_v) && stop < 0) stop = std::max<int64_t>(stop + n, -1);
    if (stop >= n) stop = n - 1;
  }
  std::vector<size_t> positions;
  if (step > 0) {
    for (int64_t i = start; i < stop; i += step) positions.push_back(static_cast<size_t>(i));
  } else {
    for (int64_t i = start; i > stop; i += step) positions.push_back(static_cast<size_t>(i));
  }
  return positions;
}

}  // namespace

Value Slice(const Value& object, const Value& start, const Value& stop, const Value& step) {
  RequireDefined(object);
  auto show = [](const Value& v) { return Absent(v) ? std::string("None") : Repr(v); };
  auto no_element = [&] {
    return Value::Undefined(ObjectTypeRepr(object) + " has no element slice(" + show(start) + ", " +
                            show(stop) + ", " + show(step) + ")");
  };
  // jinja2's getitem turns the TypeError of a bad slice into an Undefined (a zero step is a
  // ValueError and still raises).
  for (const Value* bound : {&start, &stop, &step}) {
    if (!Absent(*bound) && !bound->is_int() && !bound->is_bool()) return no_element();
  }
  if (object.is_list()) {
    const auto& items = object.Items();
    std::vector<Value> out;
    for (size_t i : SlicePositions(items.size(), start, stop, step)) out.push_back(items[i]);
    return object.AsList().is_tuple ? Value::Tuple(std::move(out)) : Value::List(std::move(out));
  }
  if (object.is_string()) {
    const std::string& s = object.AsString();
    if (unicode::IsAscii(s)) {
      std::string out;
      for (size_t i : SlicePositions(s.size(), start, stop, step)) out.push_back(s[i]);
      return Value::String(std::move(out));
    }
    std::u32string text = unicode::Decode(s);
    std::u32string out;
    for (size_t i : SlicePositions(text.size(), start, stop, step)) out.push_back(text[i]);
    return Value::String(unicode::Encode(out));
  }
  return no_element();
}

}  // namespace modelgrow::jinja
