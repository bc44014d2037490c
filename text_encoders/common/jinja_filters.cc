// jinja2's builtin filters, with transformers' tojson in place of jinja2's HTML-safe one.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>

#include "common/jinja_args.h"
#include "common/jinja_builtins.h"
#include "common/jinja_error.h"
#include "common/jinja_json.h"
#include "common/jinja_ops.h"
#include "common/jinja_strings.h"
#include "common/jinja_unicode.h"

namespace modelgrow::jinja {

namespace {

// --- helpers shared by several filters ------------------------------------------------------

// jinja2's _prepare_attribute_parts: "a.0.b" -> ["a", 0, "b"].
std::vector<Value> AttributeParts(const Value& attribute) {
  if (attribute.is_none() || attribute.is_undefined()) return {};
  if (!attribute.is_string()) return {attribute};
  std::vector<Value> parts;
  for (const std::string& part : pystr::Split(attribute.AsString(), std::string("."), -1)) {
    bool digits = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    parts.push_back(digits ? Value::Int(std::stoll(part)) : Value::String(part));
  }
  return parts;
}

Value IgnoreCase(const Value& v) {
  return v.is_string() ? Value::String(unicode::Lower(v.AsString())) : v;
}

// jinja2's make_attrgetter: follows the parts with getitem, substituting `fallback` for an
// undefined step when one is given.
Value FollowParts(Value item, const std::vector<Value>& parts, const Value* fallback) {
  for (const Value& part : parts) {
    item = GetItem(item, part);
    if (fallback && item.is_undefined()) item = *fallback;
  }
  return item;
}

const Value* Keyword(const CallArgs& args, std::string_view name) {
  for (const auto& [key, value] : args.keyword) {
    if (key == name) return &value;
  }
  return nullptr;
}

CallArgs Rest(const CallArgs& args, size_t skip) {
  CallArgs rest;
  for (size_t i = skip; i < args.positional.size(); ++i)
    rest.positional.push_back(args.positional[i]);
  rest.keyword = args.keyword;
  return rest;
}

std::string Text(const Value& v) { return ToStr(v); }

void SortStable(std::vector<std::pair<Value, Value>>& keyed, bool reverse) {
  std::stable_sort(keyed.begin(), keyed.end(), [reverse](const auto& a, const auto& b) {
    return reverse ? LessThan(b.first, a.first) : LessThan(a.first, b.first);
  });
}

void RequireHashable(const Value& v) {
  if ((v.is_list() && !v.AsList().is_tuple) || v.is_dict()) {
    throw EvalError("unhashable type: '" + TypeName(v) + "'");
  }
}

// Python's float(str): surrounding whitespace, sign, digits with single underscores, inf/nan.
std::optional<double> ParseFloat(std::string_view raw) {
  std::string text = pystr::Strip(raw, std::nullopt, pystr::StripSide::kBoth);
  std::string cleaned;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '_') {
      bool between = i > 0 && i + 1 < text.size() &&
                     std::isdigit(static_cast<unsigned char>(text[i - 1])) &&
                     std::isdigit(static_cast<unsigned char>(text[i + 1]));
      if (!between) return std::nullopt;
      continue;
    }
    cleaned.push_back(text[i]);
  }
  if (cleaned.empty()) return std::nullopt;
  std::string lower = unicode::Lower(cleaned);
  size_t sign = (lower[0] == '+' || lower[0] == '-') ? 1 : 0;
  std::string body = lower.substr(sign);
  if (body == "inf" || body == "infinity" || body == "nan") {
    double v = body == "nan" ? NAN : INFINITY;
    return lower[0] == '-' ? -v : v;
  }
  if (body.find_first_not_of("0123456789.e+-") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(cleaned.c_str(), &end);
  if (end != cleaned.c_str() + cleaned.size()) return std::nullopt;
  return v;
}

// Python's int(str, base) for bases 2-36 (and 0: prefix decides).
std::optional<int64_t> ParseInt(std::string_view raw, int64_t base) {
  std::string text = pystr::Strip(raw, std::nullopt, pystr::StripSide::kBoth);
  if (text.empty()) return std::nullopt;
  bool negative = false;
  size_t i = 0;
  if (text[0] == '+' || text[0] == '-') {
    negative = text[0] == '-';
    i = 1;
  }
  auto has_prefix = [&](char p) {
    return i + 1 < text.size() && text[i] == '0' && (text[i + 1] | 0x20) == p;
  };
  if (base == 0) {
    base = has_prefix('x') ? 16 : has_prefix('o') ? 8 : has_prefix('b') ? 2 : 10;
    if (base != 10) i += 2;
  } else if ((base == 16 && has_prefix('x')) || (base == 8 && has_prefix('o')) ||
             (base == 2 && has_prefix('b'))) {
    i += 2;
  }
  if (base < 2 || base > 36 || i >= text.size()) return std::nullopt;
  int64_t value = 0;
  bool last_underscore = true;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '_') {
      if (last_underscore) return std::nullopt;
      last_underscore = true;
      continue;
    }
    int d = std::isdigit(static_cast<unsigned char>(c))   ? c - '0'
            : std::isalpha(static_cast<unsigned char>(c)) ? (c | 0x20) - 'a' + 10
                                                          : 99;
    if (d >= base) return std::nullopt;
    if (__builtin_mul_overflow(value, base, &value) || __builtin_add_overflow(value, d, &value)) {
      return std::nullopt;
    }
    last_underscore = false;
  }
  if (last_underscore) return std::nullopt;
  return negative ? -value : value;
}

// --- the filters ----------------------------------------------------------------------------

Value Abs(const Value& v, const CallArgs& args) {
  ArgBinder b("abs", args, {});
  RequireDefined(v);
  if (v.is_float()) return Value::Float(std::fabs(v.AsFloat()));
  if (v.is_int() || v.is_bool()) {
    int64_t i = v.AsInteger();
    if (i == INT64_MIN) throw EvalError("integer overflow in abs()");
    return Value::Int(i < 0 ? -i : i);
  }
  throw EvalError("bad operand type for abs(): '" + TypeName(v) + "'");
}

Value Attr(const Value& v, const CallArgs& args) {
  ArgBinder b("attr", args, {"name"}, 1);
  std::string name = b.String(0, "");
  if (auto attr = AttributeOnly(v, name)) return *attr;
  return Value::Undefined("'" + ObjectTypeRepr(v) + "' has no attribute '" + name + "'");
}

Value Batch(const Value& v, const CallArgs& args) {
  ArgBinder b("batch", args, {"linecount", "fill_with"}, 1);
  int64_t count = b.Int(0, 1);
  std::vector<Value> out;
  std::vector<Value> row;
  for (const Value& item : Iterate(v)) {
    if (static_cast<int64_t>(row.size()) == count) {
      out.push_back(Value::List(std::move(row)));
      row.clear();
    }
    row.push_back(item);
  }
  if (!row.empty()) {
    const Value* fill = b.Find(1);
    if (fill && !fill->is_none()) {
      while (static_cast<int64_t>(row.size()) < count) row.push_back(*fill);
    }
    out.push_back(Value::List(std::move(row)));
  }
  return Value::List(std::move(out));
}

Value Capitalize(const Value& v, const CallArgs& args) {
  ArgBinder b("capitalize", args, {});
  return Value::String(pystr::Capitalize(Text(v)));
}

Value Center(const Value& v, const CallArgs& args) {
  ArgBinder b("center", args, {"width"});
  return Value::String(pystr::Justify(Text(v), b.Int(0, 80), " ", '^'));
}

Value LengthFilter(const Value& v, const CallArgs& args) {
  ArgBinder b("length", args, {});
  return Value::Int(static_cast<int64_t>(Length(v)));
}

Value Default(const Value& v, const CallArgs& args) {
  ArgBinder b("default", args, {"default_value", "boolean"});
  if (v.is_undefined() || (b.Bool(1, false) && !Truthy(v))) {
    return b.Get(0, Value::String(""));
  }
  return v;
}

Value ItemsOf(const Value& v) {
  std::vector<Value> items;
  for (const auto& [key, value] : v.AsDict().entries()) items.push_back(Value::Tuple({key, value}));
  return Value::List(std::move(items));
}

Value DictSort(const Value& v, const CallArgs& args) {
  ArgBinder b("dictsort", args, {"case_sensitive", "by", "reverse"});
  std::string by = b.String(1, "key");
  if (by != "key" && by != "value")
    throw EvalError("You can only sort by either \"key\" or \"value\"");
  if (!v.is_dict()) {
    RequireDefined(v);
    throw EvalError("'" + TypeName(v) + "' object has no attribute 'items'");
  }
  bool case_sensitive = b.Bool(0, false);
  std::vector<std::pair<Value, Value>> keyed;
  Value items = ItemsOf(v);
  for (const Value& pair : items.Items()) {
    Value key = pair.Items()[by == "key" ? 0 : 1];
    keyed.emplace_back(case_sensitive ? key : IgnoreCase(key), pair);
  }
  SortStable(keyed, b.Bool(2, false));
  std::vector<Value> out;
  for (auto& entry : keyed) out.push_back(std::move(entry.second));
  return Value::List(std::move(out));
}

std::string HtmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

Value Escape(const Value& v, const CallArgs& args) {
  ArgBinder b("escape", args, {});
  return Value::String(HtmlEscape(Text(v)));
}

Value First(const Value& v, const CallArgs& args) {
  ArgBinder b("first", args, {});
  std::vector<Value> items = Iterate(v);
  if (items.empty()) return Value::Undefined("No first item, sequence was empty.");
  return items.front();
}

Value Last(const Value& v, const CallArgs& args) {
  ArgBinder b("last", args, {});
  std::vector<Value> items = Iterate(v);
  if (items.empty()) return Value::Undefined("No last item, sequence was empty.");
  return items.back();
}

Value FloatFilter(const Value& v, const CallArgs& args) {
  ArgBinder b("float", args, {"default"});
  Value fallback = b.Get(0, Value::Float(0.0));
  if (v.is_number()) return Value::Float(v.AsDouble());
  if (v.is_string()) {
    if (auto parsed = ParseFloat(v.AsString())) return Value::Float(*parsed);
  }
  RequireDefined(v);
  return fallback;
}

Value Format(const Value& v, const CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty()) {
    throw EvalError("can't handle positional and keyword arguments at the same time");
  }
  Value format_args;
  if (!args.keyword.empty()) {
    auto dict = std::make_shared<DictData>();
    for (const auto& [key, value] : args.keyword) dict->Set(Value::String(key), value);
    format_args = Value::Dict(std::move(dict));
  } else {
    format_args = Value::Tuple(args.positional);
  }
  return Value::String(
      BinaryOperation(BinaryOp::kMod, Value::String(Text(v)), format_args).AsString());
}

Value GroupBy(const Value& v, const CallArgs& args) {
  ArgBinder b("groupby", args, {"attribute", "default", "case_sensitive"}, 1);
  std::vector<Value> parts = AttributeParts(*b.Find(0));
  const Value* fallback = b.Find(1);
  if (fallback && fallback->is_none()) fallback = nullptr;
  bool case_sensitive = b.Bool(2, false);
  std::vector<std::pair<Value, Value>> keyed;
  for (const Value& item : Iterate(v)) {
    Value key = FollowParts(item, parts, fallback);
    keyed.emplace_back(case_sensitive ? key : IgnoreCase(key), item);
  }
  SortStable(keyed, false);
  std::vector<Value> groups;
  size_t i = 0;
  while (i < keyed.size()) {
    size_t j = i;
    std::vector<Value> members;
    while (j < keyed.size() && Equals(keyed[j].first, keyed[i].first))
      members.push_back(keyed[j++].second);
    Value grouper = case_sensitive ? keyed[i].first : FollowParts(members.front(), parts, fallback);
    auto group = std::make_shared<ListData>();
    group->items = {grouper, Value::List(std::move(members))};
    group->is_tuple = true;
    group->field_names = {"grouper", "list"};
    groups.push_back(Value::FromList(std::move(group)));
    i = j;
  }
  return Value::List(std::move(groups));
}

Value Indent(const Value& v, const CallArgs& args) {
  ArgBinder b("indent", args, {"width", "first", "blank"});
  std::string indention;
  const Value* width = b.Find(0);
  if (width && width->is_string()) {
    indention = width->AsString();
  } else {
    int64_t n = b.Int(0, 4);
    indention = std::string(n > 0 ? static_cast<size_t>(n) : 0, ' ');
  }
  std::string text = Text(v) + "\n";
  std::vector<std::string> lines = pystr::SplitLines(text, false);
  std::string rv;
  if (b.Bool(2, false)) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) rv += "\n" + indention;
      rv += lines[i];
    }
  } else {
    rv = lines.empty() ? "" : lines[0];
    if (lines.size() > 1) {
      rv += "\n";
      for (size_t i = 1; i < lines.size(); ++i) {
        if (i > 1) rv += "\n";
        if (!lines[i].empty()) rv += indention;
        rv += lines[i];
      }
    }
  }
  if (b.Bool(1, false)) rv = indention + rv;
  return Value::String(std::move(rv));
}

Value IntFilter(const Value& v, const CallArgs& args) {
  ArgBinder b("int", args, {"default", "base"});
  Value fallback = b.Get(0, Value::Int(0));
  if (v.is_int() || v.is_bool()) return Value::Int(v.AsInteger());
  if (v.is_float()) {
    double d = v.AsFloat();
    if (std::isfinite(d) && std::fabs(d) < 9.2e18)
      return Value::Int(static_cast<int64_t>(std::trunc(d)));
    return fallback;
  }
  if (v.is_string()) {
    if (auto parsed = ParseInt(v.AsString(), b.Int(1, 10))) return Value::Int(*parsed);
    // jinja2: "42.23"|int gives 42.
    if (auto parsed = ParseFloat(v.AsString())) {
      if (std::isfinite(*parsed) && std::fabs(*parsed) < 9.2e18) {
        return Value::Int(static_cast<int64_t>(std::trunc(*parsed)));
      }
    }
    return fallback;
  }
  RequireDefined(v);
  return fallback;
}

Value Items(const Value& v, const CallArgs& args) {
  ArgBinder b("items", args, {});
  if (v.is_undefined()) return Value::List({});
  if (!v.is_dict()) throw EvalError("Can only get item pairs from a mapping.");
  return ItemsOf(v);
}

Value Join(const Value& v, const CallArgs& args) {
  ArgBinder b("join", args, {"d", "attribute"});
  std::string separator = Text(b.Get(0, Value::String("")));
  std::vector<Value> parts = b.Has(1) ? AttributeParts(*b.Find(1)) : std::vector<Value>{};
  std::string out;
  bool first = true;
  for (const Value& item : Iterate(v)) {
    if (!first) out += separator;
    first = false;
    out += Text(b.Has(1) ? FollowParts(item, parts, nullptr) : item);
  }
  return Value::String(std::move(out));
}

Value ListFilter(const Value& v, const CallArgs& args) {
  ArgBinder b("list", args, {});
  return Value::List(Iterate(v));
}

Value Lower(const Value& v, const CallArgs& args) {
  ArgBinder b("lower", args, {});
  return Value::String(unicode::Lower(Text(v)));
}

Value Upper(const Value& v, const CallArgs& args) {
  ArgBinder b("upper", args, {});
  return Value::String(unicode::Upper(Text(v)));
}

Value Map(const Value& v, const CallArgs& args) {
  std::vector<Value> out;
  if (!Truthy(v)) return Value::List({});
  const Value* attribute = Keyword(args, "attribute");
  if (args.positional.empty() && attribute) {
    const Value* fallback = Keyword(args, "default");
    for (const auto& [key, value] : args.keyword) {
      if (key != "attribute" && key != "default") {
        throw EvalError("Unexpected keyword argument '" + key + "'");
      }
    }
    std::vector<Value> parts = AttributeParts(*attribute);
    for (const Value& item : Iterate(v)) out.push_back(FollowParts(item, parts, fallback));
    return Value::List(std::move(out));
  }
  if (args.positional.empty()) throw EvalError("map requires a filter argument");
  std::string name = Text(args.positional[0]);
  CallArgs rest = Rest(args, 1);
  for (const Value& item : Iterate(v)) out.push_back(CallFilter(name, item, rest));
  return Value::List(std::move(out));
}

Value MinMax(const Value& v, const CallArgs& args, bool max) {
  ArgBinder b(max ? "max" : "min", args, {"case_sensitive", "attribute"});
  std::vector<Value> items = Iterate(v);
  if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  std::vector<Value> parts = b.Has(1) ? AttributeParts(*b.Find(1)) : std::vector<Value>{};
  bool case_sensitive = b.Bool(0, false);
  auto key = [&](const Value& item) {
    Value k = FollowParts(item, parts, nullptr);
    return case_sensitive ? k : IgnoreCase(k);
  };
  size_t best = 0;
  Value best_key = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    if (max ? LessThan(best_key, k) : LessThan(k, best_key)) {
      best = i;
      best_key = k;
    }
  }
  return items[best];
}

Value Max(const Value& v, const CallArgs& args) { return MinMax(v, args, true); }
Value Min(const Value& v, const CallArgs& args) { return MinMax(v, args, false); }

// select, reject, selectattr and rejectattr.
Value SelectOrReject(const Value& v, const CallArgs& args, bool select, bool by_attribute) {
  std::vector<Value> out;
  if (!Truthy(v)) return Value::List({});
  size_t offset = 0;
  std::vector<Value> parts;
  if (by_attribute) {
    if (args.positional.empty()) throw EvalError("Missing parameter for attribute name");
    parts = AttributeParts(args.positional[0]);
    offset = 1;
  }
  std::optional<std::string> test;
  CallArgs rest;
  if (args.positional.size() > offset) {
    test = Text(args.positional[offset]);
    rest = Rest(args, offset + 1);
  }
  for (const Value& item : Iterate(v)) {
    Value subject = by_attribute ? FollowParts(item, parts, nullptr) : item;
    bool passed = test ? CallTest(*test, subject, rest) : Truthy(subject);
    if (passed == select) out.push_back(item);
  }
  return Value::List(std::move(out));
}

Value Select(const Value& v, const CallArgs& a) { return SelectOrReject(v, a, true, false); }
Value Reject(const Value& v, const CallArgs& a) { return SelectOrReject(v, a, false, false); }
Value SelectAttr(const Value& v, const CallArgs& a) { return SelectOrReject(v, a, true, true); }
Value RejectAttr(const Value& v, const CallArgs& a) { return SelectOrReject(v, a, false, true); }

Value Replace(const Value& v, const CallArgs& args) {
  ArgBinder b("replace", args, {"old", "new", "count"}, 2);
  const Value* count = b.Find(2);
  int64_t n = (count == nullptr || count->is_none()) ? -1 : b.Int(2, -1);
  return Value::String(pystr::Replace(Text(v), Text(*b.Find(0)), Text(*b.Find(1)), n));
}

Value Reverse(const Value& v, const CallArgs& args) {
  ArgBinder b("reverse", args, {});
  if (v.is_string()) {
    std::u32string text = unicode::Decode(v.AsString());
    std::reverse(text.begin(), text.end());
    return Value::String(unicode::Encode(text));
  }
  std::vector<Value> items;
  try {
    items = Iterate(v);
  } catch (const EvalError&) {
    throw EvalError("argument must be iterable");
  }
  std::reverse(items.begin(), items.end());
  return Value::List(std::move(items));
}

double PyRound(double x, int64_t ndigits) {
  if (!std::isfinite(x)) return x;
  if (ndigits >= 0) {
    if (ndigits > 300) return x;
    // printf rounds the exact binary value half-to-even, as CPython's correctly rounded
    // float.__round__ does.
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(ndigits), x);
    return std::strtod(buf, nullptr);
  }
  double pow1 = std::pow(10.0, static_cast<double>(-ndigits));
  double y = x / pow1;
  double z = std::nearbyint(y);
  return z * pow1;
}

Value Round(const Value& v, const CallArgs& args) {
  ArgBinder b("round", args, {"precision", "method"});
  int64_t precision = b.Int(0, 0);
  std::string method = b.String(1, "common");
  if (method != "common" && method != "ceil" && method != "floor") {
    throw EvalError("method must be common, ceil or floor");
  }
  RequireDefined(v);
  if (!v.is_number()) throw EvalError("type " + TypeName(v) + " doesn't define __round__ method");
  if (method == "common") {
    if (v.is_float()) return Value::Float(PyRound(v.AsFloat(), precision));
    if (precision >= 0) return Value::Int(v.AsInteger());
    return Value::Int(static_cast<int64_t>(PyRound(static_cast<double>(v.AsInteger()), precision)));
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double scaled = v.AsDouble() * scale;
  return Value::Float((method == "ceil" ? std::ceil(scaled) : std::floor(scaled)) / scale);
}

Value Safe(const Value& v, const CallArgs& args) {
  ArgBinder b("safe", args, {});
  return Value::String(Text(v));
}

Value SliceFilter(const Value& v, const CallArgs& args) {
  ArgBinder b("slice", args, {"slices", "fill_with"}, 1);
  std::vector<Value> seq = Iterate(v);
  int64_t slices = b.Int(0, 1);
  if (slices <= 0) throw EvalError("integer division or modulo by zero");
  int64_t length = static_cast<int64_t>(seq.size());
  int64_t per_slice = length / slices;
  int64_t with_extra = length % slices;
  int64_t offset = 0;
  const Value* fill = b.Find(1);
  std::vector<Value> out;
  for (int64_t n = 0; n < slices; ++n) {
    int64_t start = offset + n * per_slice;
    if (n < with_extra) ++offset;
    int64_t end = offset + (n + 1) * per_slice;
    std::vector<Value> part(seq.begin() + start, seq.begin() + end);
    if (fill && !fill->is_none() && n >= with_extra) part.push_back(*fill);
    out.push_back(Value::List(std::move(part)));
  }
  return Value::List(std::move(out));
}

Value Sort(const Value& v, const CallArgs& args) {
  ArgBinder b("sort", args, {"reverse", "case_sensitive", "attribute"});
  bool case_sensitive = b.Bool(1, false);
  std::vector<std::vector<Value>> attributes;
  const Value* attribute = b.Find(2);
  if (attribute && attribute->is_string()) {
    for (const std::string& part : pystr::Split(attribute->AsString(), std::string(","), -1)) {
      attributes.push_back(AttributeParts(Value::String(part)));
    }
  } else {
    attributes.push_back(attribute ? AttributeParts(*attribute) : std::vector<Value>{});
  }
  std::vector<std::pair<Value, Value>> keyed;
  for (const Value& item : Iterate(v)) {
    std::vector<Value> key;
    for (const auto& parts : attributes) {
      Value k = FollowParts(item, parts, nullptr);
      key.push_back(case_sensitive ? k : IgnoreCase(k));
    }
    keyed.emplace_back(Value::List(std::move(key)), item);
  }
  SortStable(keyed, b.Bool(0, false));
  std::vector<Value> out;
  for (auto& entry : keyed) out.push_back(std::move(entry.second));
  return Value::List(std::move(out));
}

Value StringFilter(const Value& v, const CallArgs& args) {
  ArgBinder b("string", args, {});
  return v.is_string() ? v : Value::String(Text(v));
}

std::string UnescapeEntities(const std::string& text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '&') {
      size_t semi = text.find(';', i);
      if (semi != std::string::npos && semi - i <= 10) {
        std::string entity = text.substr(i + 1, semi - i - 1);
        static const std::unordered_map<std::string, const char*> kNamed = {
            {"amp", "&"},   {"lt", "<"},   {"gt", ">"},
            {"quot", "\""}, {"apos", "'"}, {"nbsp", "\xC2\xA0"}};
        auto it = kNamed.find(entity);
        if (it != kNamed.end()) {
          out += it->second;
          i = semi + 1;
          continue;
        }
        if (entity.size() > 1 && entity[0] == '#') {
          bool hex = entity[1] == 'x' || entity[1] == 'X';
          char* end = nullptr;
          long code = std::strtol(entity.c_str() + (hex ? 2 : 1), &end, hex ? 16 : 10);
          if (end && *end == '\0' && code > 0 && code <= 0x10FFFF) {
            unicode::AppendUtf8(out, static_cast<char32_t>(code));
            i = semi + 1;
            continue;
          }
        }
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

Value StripTags(const Value& v, const CallArgs& args) {
  ArgBinder b("striptags", args, {});
  std::string text = Text(v);
  std::string no_comments;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 4, "<!--") == 0) {
      size_t end = text.find("-->", i + 4);
      if (end != std::string::npos) {
        i = end + 3;
        continue;
      }
    }
    no_comments.push_back(text[i++]);
  }
  std::string no_tags;
  for (size_t i = 0; i < no_comments.size();) {
    if (no_comments[i] == '<') {
      size_t end = no_comments.find('>', i + 1);
      if (end != std::string::npos) {
        i = end + 1;
        continue;
      }
    }
    no_tags.push_back(no_comments[i++]);
  }
  std::string joined;
  for (const std::string& word : pystr::Split(no_tags, std::nullopt, -1)) {
    if (!joined.empty()) joined += " ";
    joined += word;
  }
  return Value::String(UnescapeEntities(joined));
}

Value Sum(const Value& v, const CallArgs& args) {
  ArgBinder b("sum", args, {"attribute", "start"});
  std::vector<Value> parts = b.Has(0) ? AttributeParts(*b.Find(0)) : std::vector<Value>{};
  Value total = b.Get(1, Value::Int(0));
  for (const Value& item : Iterate(v)) {
    total = BinaryOperation(BinaryOp::kAdd, total, FollowParts(item, parts, nullptr));
  }
  return total;
}

Value Title(const Value& v, const CallArgs& args) {
  ArgBinder b("title", args, {});
  // jinja2 capitalizes each piece after a run of whitespace, '-', '(', '{', '[' or '<'.
  std::u32string text = unicode::Decode(Text(v));
  std::string out;
  auto separator = [](char32_t c) {
    return unicode::IsSpace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
  };
  bool start = true;
  for (char32_t c : text) {
    if (separator(c)) {
      unicode::AppendUtf8(out, c);
      start = true;
    } else {
      unicode::AppendUtf8(out, start ? unicode::ToUpper(c) : unicode::ToLower(c));
      start = false;
    }
  }
  return Value::String(std::move(out));
}

Value ToJson(const Value& v, const CallArgs& args) {
  // transformers' replacement: json.dumps(x, ensure_ascii=False, indent=None,
  // separators=None, sort_keys=False), parameters in that order.
  ArgBinder b("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions options;
  options.ensure_ascii = b.Bool(0, false);
  const Value* indent = b.Find(1);
  if (indent && !indent->is_none()) {
    if (indent->is_string()) {
      options.indent = indent->AsString();
    } else {
      int64_t n = b.Int(1, 0);
      options.indent = std::string(n > 0 ? static_cast<size_t>(n) : 0, ' ');
    }
  }
  const Value* separators = b.Find(2);
  if (separators && !separators->is_none()) {
    std::vector<Value> pair = Iterate(*separators);
    if (pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
      throw EvalError("separators must be a pair of strings (item separator, key separator)");
    }
    options.item_separator = pair[0].AsString();
    options.key_separator = pair[1].AsString();
  }
  options.sort_keys = b.Bool(3, false);
  return Value::String(DumpJson(v, options));
}

Value Trim(const Value& v, const CallArgs& args) {
  ArgBinder b("trim", args, {"chars"});
  const Value* chars = b.Find(0);
  std::optional<std::string> set;
  if (chars && !chars->is_none()) set = Text(*chars);
  return Value::String(pystr::Strip(Text(v), set, pystr::StripSide::kBoth));
}

Value Truncate(const Value& v, const CallArgs& args) {
  ArgBinder b("truncate", args, {"length", "killwords", "end", "leeway"});
  int64_t length = b.Int(0, 255);
  std::string end = b.String(2, "...");
  int64_t leeway = b.Int(3, 5);
  int64_t end_length = static_cast<int64_t>(unicode::CodePointCount(end));
  if (length < end_length) {
    throw EvalError("expected length >= " + std::to_string(end_length) + ", got " +
                    std::to_string(length));
  }
  if (leeway < 0) throw EvalError("expected leeway >= 0, got " + std::to_string(leeway));
  std::string s = Text(v);
  if (static_cast<int64_t>(unicode::CodePointCount(s)) <= length + leeway) return Value::String(s);
  std::string head = pystr::Substring(s, 0, length - end_length);
  if (b.Bool(1, false)) return Value::String(head + end);
  size_t space = head.rfind(' ');
  if (space != std::string::npos) head = head.substr(0, space);
  return Value::String(head + end);
}

Value Unique(const Value& v, const CallArgs& args) {
  ArgBinder b("unique", args, {"case_sensitive", "attribute"});
  bool case_sensitive = b.Bool(0, false);
  std::vector<Value> parts = b.Has(1) ? AttributeParts(*b.Find(1)) : std::vector<Value>{};
  std::vector<Value> seen;
  std::vector<Value> out;
  for (const Value& item : Iterate(v)) {
    Value key = FollowParts(item, parts, nullptr);
    if (!case_sensitive) key = IgnoreCase(key);
    RequireHashable(key);
    bool found = false;
    for (const Value& s : seen) {
      if (Equals(s, key)) {
        found = true;
        break;
      }
    }
    if (!found) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::List(std::move(out));
}

Value WordCount(const Value& v, const CallArgs& args) {
  ArgBinder b("wordcount", args, {});
  int64_t words = 0;
  bool in_word = false;
  for (char32_t c : unicode::Decode(Text(v))) {
    bool word_char = unicode::IsWordChar(c);
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return Value::Int(words);
}

const std::unordered_map<std::string_view, FilterFn>& Filters() {
  static const auto* filters = new std::unordered_map<std::string_view, FilterFn>{
      {"abs", Abs},
      {"attr", Attr},
      {"batch", Batch},
      {"capitalize", Capitalize},
      {"center", Center},
      {"count", LengthFilter},
      {"d", Default},
      {"default", Default},
      {"dictsort", DictSort},
      {"e", Escape},
      {"escape", Escape},
      {"first", First},
      {"float", FloatFilter},
      {"forceescape", Escape},
      {"format", Format},
      {"groupby", GroupBy},
      {"indent", Indent},
      {"int", IntFilter},
      {"items", Items},
      {"join", Join},
      {"last", Last},
      {"length", LengthFilter},
      {"list", ListFilter},
      {"lower", Lower},
      {"map", Map},
      {"max", Max},
      {"min", Min},
      {"reject", Reject},
      {"rejectattr", RejectAttr},
      {"replace", Replace},
      {"reverse", Reverse},
      {"round", Round},
      {"safe", Safe},
      {"select", Select},
      {"selectattr", SelectAttr},
      {"slice", SliceFilter},
      {"sort", Sort},
      {"string", StringFilter},
      {"striptags", StripTags},
      {"sum", Sum},
      {"title", Title},
      {"tojson", ToJson},
      {"trim", Trim},
      {"truncate", Truncate},
      {"unique", Unique},
      {"upper", Upper},
      {"wordcount", WordCount},
  };
  return *filters;
}

}  // namespace

FilterFn FindFilter(std::string_view name) {
  auto it = Filters().find(name);
  return it == Filters().end() ? nullptr : it->second;
}

Value CallFilter(std::string_view name, const Value& input, const CallArgs& args) {
  FilterFn fn = FindFilter(name);
  if (fn == nullptr) throw EvalError(UnknownBuiltinMessage(name, true, false));
  return fn(input, args);
}

bool IsUnsupportedJinjaBuiltin(std::string_view name) {
  return name == "filesizeformat" || name == "pprint" || name == "random" || name == "urlencode" ||
         name == "urlize" || name == "wordwrap" || name == "xmlattr" || name == "escaped";
}

std::string UnknownBuiltinMessage(std::string_view name, bool is_filter, bool deferred) {
  std::string kind = is_filter ? "filter" : "test";
  if (IsUnsupportedJinjaBuiltin(name)) {
    return "the jinja2 " + kind + " '" + std::string(name) +
           "' is not supported by this interpreter";
  }
  return "No " + kind + " named '" + std::string(name) + (deferred ? "' found." : "'.");
}

}  // namespace modelgrow::jinja
