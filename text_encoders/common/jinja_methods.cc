#include "common/jinja_methods.h"

#include <string>
#include <unordered_map>

#include "common/jinja_args.h"
#include "common/jinja_error.h"
#include "common/jinja_format.h"
#include "common/jinja_ops.h"
#include "common/jinja_strings.h"
#include "common/jinja_unicode.h"

namespace modelgrow::jinja {

namespace {

using Method = Value (*)(const Value& self, const CallArgs& args);

std::optional<std::string> OptionalString(const ArgBinder& binder, size_t i, const char* function) {
  const Value* v = binder.Find(i);
  if (v == nullptr || v->is_none()) return std::nullopt;
  if (!v->is_string()) {
    throw EvalError(std::string(function) + " arg must be None or str");
  }
  return v->AsString();
}

std::optional<int64_t> OptionalIndex(const ArgBinder& binder, size_t i) {
  const Value* v = binder.Find(i);
  if (v == nullptr || v->is_none()) return std::nullopt;
  return binder.Int(i, 0);
}

Value StringList(std::vector<std::string> parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& part : parts) items.push_back(Value::String(std::move(part)));
  return Value::List(std::move(items));
}

Value StripMethod(const Value& self, const CallArgs& args, pystr::StripSide side,
                  const char* name) {
  ArgBinder binder(std::string("str.") + name, args, {"chars"});
  return Value::String(pystr::Strip(self.AsString(), OptionalString(binder, 0, name), side));
}

Value AffixTest(const Value& self, const CallArgs& args, bool suffix) {
  const char* name = suffix ? "endswith" : "startswith";
  ArgBinder binder(std::string("str.") + name, args, {"prefix", "start", "end"}, 1);
  std::string text =
      pystr::Substring(self.AsString(), OptionalIndex(binder, 1), OptionalIndex(binder, 2));
  const Value& affix = *binder.Find(0);
  std::vector<Value> candidates;
  if (affix.is_string()) {
    candidates.push_back(affix);
  } else if (affix.is_list() && affix.AsList().is_tuple) {
    candidates = affix.Items();
  } else {
    throw EvalError(std::string(name) + " first arg must be str or a tuple of str, not " +
                    TypeName(affix));
  }
  for (const Value& candidate : candidates) {
    if (!candidate.is_string()) {
      throw EvalError("tuple for " + std::string(name) + " must only contain str, not " +
                      TypeName(candidate));
    }
    const std::string& a = candidate.AsString();
    if (a.size() > text.size()) continue;
    if (suffix ? text.compare(text.size() - a.size(), a.size(), a) == 0
               : text.compare(0, a.size(), a) == 0) {
      return Value::Bool(true);
    }
  }
  return Value::Bool(false);
}

Value FindMethodImpl(const Value& self, const CallArgs& args, bool reverse, bool raise,
                     const char* name) {
  ArgBinder binder(std::string("str.") + name, args, {"sub", "start", "end"}, 1);
  std::string sub = binder.String(0, "");
  int64_t found = pystr::Find(self.AsString(), sub, OptionalIndex(binder, 1),
                              OptionalIndex(binder, 2), reverse);
  if (found < 0 && raise) throw EvalError("substring not found");
  return Value::Int(found);
}

Value JustifyMethod(const Value& self, const CallArgs& args, char align, const char* name) {
  ArgBinder binder(std::string("str.") + name, args, {"width", "fillchar"}, 1);
  return Value::String(
      pystr::Justify(self.AsString(), binder.Int(0, 0), binder.String(1, " "), align));
}

Value Partition(const Value& self, const CallArgs& args, bool reverse) {
  ArgBinder binder(reverse ? "str.rpartition" : "str.partition", args, {"sep"}, 1);
  std::string sep = binder.String(0, "");
  if (sep.empty()) throw EvalError("empty separator");
  const std::string& s = self.AsString();
  size_t at = reverse ? s.rfind(sep) : s.find(sep);
  if (at == std::string::npos) {
    return reverse ? Value::Tuple({Value::String(""), Value::String(""), self})
                   : Value::Tuple({self, Value::String(""), Value::String("")});
  }
  return Value::Tuple({Value::String(s.substr(0, at)), Value::String(sep),
                       Value::String(s.substr(at + sep.size()))});
}

Value DictView(std::vector<Value> items, const char* view_name) {
  auto list = std::make_shared<ListData>();
  list->items = std::move(items);
  list->view_name = view_name;
  return Value::FromList(std::move(list));
}

Value NoArgs(const char* name, const CallArgs& args, Value result) {
  ArgBinder binder(name, args, {});
  return result;
}

const std::unordered_map<std::string_view, Method>& StringMethods() {
  static const auto* methods = new std::unordered_map<std::string_view, Method>{
      {"strip",
       [](const Value& s, const CallArgs& a) {
         return StripMethod(s, a, pystr::StripSide::kBoth, "strip");
       }},
      {"lstrip",
       [](const Value& s, const CallArgs& a) {
         return StripMethod(s, a, pystr::StripSide::kLeft, "lstrip");
       }},
      {"rstrip",
       [](const Value& s, const CallArgs& a) {
         return StripMethod(s, a, pystr::StripSide::kRight, "rstrip");
       }},
      {"split",
       [](const Value& s, const CallArgs& a) {
         ArgBinder b("str.split", a, {"sep", "maxsplit"});
         return StringList(pystr::Split(s.AsString(), OptionalString(b, 0, "split"), b.Int(1, -1)));
       }},
      {"rsplit",
       [](const Value& s, const CallArgs& a) {
         ArgBinder b("str.rsplit", a, {"sep", "maxsplit"});
         return StringList(
             pystr::RSplit(s.AsString(), OptionalString(b, 0, "rsplit"), b.Int(1, -1)));
       }},
      {"splitlines",
       [](const Value& s, const CallArgs& a) {
         ArgBinder b("str.splitlines", a, {"keepends"});
         return StringList(pystr::SplitLines(s.AsString(), b.Bool(0, false)));
       }},
      {"startswith", [](const Value& s, const CallArgs& a) { return AffixTest(s, a, false); }},
      {"endswith", [](const Value& s, const CallArgs& a) { return AffixTest(s, a, true); }},
      {"upper",
       [](const Value& s, const CallArgs& a) {
         return NoArgs("str.upper", a, Value::String(unicode::Upper(s.AsString())));
       }},
      {"lower",
       [](const Value& s, const CallArgs& a) {
         return NoArgs("str.lower", a, Value::String(unicode::Lower(s.AsString())));
       }},
      {"casefold",
       [](const Value& s, const CallArgs& a) {
         return NoArgs("str.casefold", a, Value::String(unicode::Lower(s.AsString())));
       }},
      {"title",
       [](const Value& s, const CallArgs& a) {
         return NoArgs("str.title", a, Value::String(pystr::Title(s.AsString())));
       }},
      {"capitalize",
       [](const Value& s, const CallArgs& a) {
         return NoArgs("str.capitalize", a, Value::String(pystr::Capitalize(s.AsString())));
       }},
      {"swapcase",
       [](const Value& s, const CallArgs& a) {
         return NoArgs("str.swapcase", a, Value::String(pystr::SwapCase(s.AsString())));
       }},
      {"replace",
       [](const Value& s, const CallArgs& a) {
         ArgBinder b("str.replace", a, {"old", "new", "count"}, 2);
         return Value::String(
             pystr::Replace(s.AsString(), b.String(0, ""), b.String(1, ""), b.Int(2, -1)));
       }},
      {"find", [](const Value& s,
                  const CallArgs& a) { return FindMethodImpl(s, a, false, false, "find"); }},
      {"rfind", [](const Value& s,
                   const CallArgs& a) { return FindMethodImpl(s, a, true, false, "rfind"); }},
      {"index", [](const Value& s,
                   const CallArgs& a) { return FindMethodImpl(s, a, false, true, "index"); }},
      {"rindex", [](const Value& s,
                    const CallArgs& a) { return FindMethodImpl(s, a, true, true, "rindex"); }},
      {"count",
       [](const Value& s, const CallArgs& a) {
         ArgBinder b("str.count", a, {"sub"}, 1);
         return Value::Int(pystr::Count(s.AsString(), b.String(0, "")));
       }},
      {"join",
       [](const Value& s, const CallArgs& a) {
         ArgBinder b("str.join", a, {"iterable"}, 1);
         std::string out;
         size_t index = 0;
         for (const Value& item : Iterate(*b.Find(0))) {
           if (!item.is_string()) {
             throw EvalError("sequence item " + std::to_string(index) +
                             ": expected str instance, " + TypeName(item) + " found");
           }
           if (index++ > 0) out += s.AsString();
           out += item.AsString();
         }
         return Value::String(std::move(out));
       }},
      {"format", [](const Value& s,
                    const CallArgs& a) { return Value::String(BraceFormat(s.AsString(), a)); }},
      {"isdigit",
       [](const Value& s, const CallArgs& a) {
         return NoArgs("str.isdigit", a, Value::Bool(pystr::IsAll(s.AsString(), unicode::IsDigit)));
       }},
      {"isdecimal",
       [](const Value& s, const CallArgs& a) {
         return NoArgs("str.isdecimal", a,
                       Value::Bool(pystr::IsAll(s.AsString(), unicode::IsDigit)));
       }},
      {"isnumeric",
       [](const Value& s, const CallArgs& a) {
         return NoArgs("str.isnumeric", a,
                       Value::Bool(pystr::IsAll(s.AsString(), unicode::IsDigit)));
       }},
      {"isalpha",
       [](const Value& s, const CallArgs& a) {
         return NoArgs("str.isalpha", a, Value::Bool(pystr::IsAll(s.AsString(), unicode::IsAlpha)));
       }},
      {"isalnum",
       [](const Value& s, const CallArgs& a) {
         return NoArgs("str.isalnum", a, Value::Bool(pystr::IsAll(s.AsString(), [](char32_t c) {
                         return unicode::IsAlpha(c) || unicode::IsDigit(c);
                       })));
       }},
      {"isspace",
       [](const Value& s, const CallArgs& a) {
         return NoArgs("str.isspace", a, Value::Bool(pystr::IsAll(s.AsString(), unicode::IsSpace)));
       }},
      {"islower",
       [](const Value& s, const CallArgs& a) {
         return NoArgs("str.islower", a, Value::Bool(pystr::IsLowerText(s.AsString())));
       }},
      {"isupper",
       [](const Value& s, const CallArgs& a) {
         return NoArgs("str.isupper", a, Value::Bool(pystr::IsUpperText(s.AsString())));
       }},
      {"center",
       [](const Value& s, const CallArgs& a) { return JustifyMethod(s, a, '^', "center"); }},
      {"ljust",
       [](const Value& s, const CallArgs& a) { return JustifyMethod(s, a, '<', "ljust"); }},
      {"rjust",
       [](const Value& s, const CallArgs& a) { return JustifyMethod(s, a, '>', "rjust"); }},
      {"zfill",
       [](const Value& s, const CallArgs& a) {
         ArgBinder b("str.zfill", a, {"width"}, 1);
         const std::string& text = s.AsString();
         int64_t width = b.Int(0, 0);
         int64_t length = static_cast<int64_t>(unicode::CodePointCount(text));
         if (width <= length) return s;
         bool sign = !text.empty() && (text[0] == '-' || text[0] == '+');
         std::string out = sign ? text.substr(0, 1) : "";
         out += std::string(static_cast<size_t>(width - length), '0');
         out += sign ? text.substr(1) : text;
         return Value::String(std::move(out));
       }},
      {"partition", [](const Value& s, const CallArgs& a) { return Partition(s, a, false); }},
      {"rpartition", [](const Value& s, const CallArgs& a) { return Partition(s, a, true); }},
      {"removeprefix",
       [](const Value& s, const CallArgs& a) {
         ArgBinder b("str.removeprefix", a, {"prefix"}, 1);
         std::string prefix = b.String(0, "");
         const std::string& text = s.AsString();
         if (text.compare(0, prefix.size(), prefix) == 0) {
           return Value::String(text.substr(prefix.size()));
         }
         return s;
       }},
      {"removesuffix",
       [](const Value& s, const CallArgs& a) {
         ArgBinder b("str.removesuffix", a, {"suffix"}, 1);
         std::string suffix = b.String(0, "");
         const std::string& text = s.AsString();
         if (!suffix.empty() && text.size() >= suffix.size() &&
             text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0) {
           return Value::String(text.substr(0, text.size() - suffix.size()));
         }
         return s;
       }},
  };
  return *methods;
}

const std::unordered_map<std::string_view, Method>& DictMethods() {
  static const auto* methods = new std::unordered_map<std::string_view, Method>{
      {"items",
       [](const Value& d, const CallArgs& a) {
         ArgBinder b("dict.items", a, {});
         std::vector<Value> items;
         for (const auto& [k, v] : d.AsDict().entries()) items.push_back(Value::Tuple({k, v}));
         return DictView(std::move(items), "dict_items");
       }},
      {"keys",
       [](const Value& d, const CallArgs& a) {
         ArgBinder b("dict.keys", a, {});
         return DictView(Iterate(d), "dict_keys");
       }},
      {"values",
       [](const Value& d, const CallArgs& a) {
         ArgBinder b("dict.values", a, {});
         std::vector<Value> items;
         for (const auto& entry : d.AsDict().entries()) items.push_back(entry.second);
         return DictView(std::move(items), "dict_values");
       }},
      {"get",
       [](const Value& d, const CallArgs& a) {
         ArgBinder b("dict.get", a, {"key", "default"}, 1);
         const Value* found = d.AsDict().Find(*b.Find(0));
         return found ? *found : b.Get(1, Value::None());
       }},
      {"copy",
       [](const Value& d, const CallArgs& a) {
         ArgBinder b("dict.copy", a, {});
         return d;
       }},
  };
  return *methods;
}

const std::unordered_map<std::string_view, Method>& ListMethods() {
  static const auto* methods = new std::unordered_map<std::string_view, Method>{
      {"index",
       [](const Value& l, const CallArgs& a) {
         ArgBinder b(l.AsList().is_tuple ? "tuple.index" : "list.index", a, {"value"}, 1);
         const auto& items = l.Items();
         for (size_t i = 0; i < items.size(); ++i) {
           if (Equals(items[i], *b.Find(0))) return Value::Int(static_cast<int64_t>(i));
         }
         throw EvalError(l.AsList().is_tuple ? "tuple.index(x): x not in tuple"
                                             : Repr(*b.Find(0)) + " is not in list");
       }},
      {"count",
       [](const Value& l, const CallArgs& a) {
         ArgBinder b(l.AsList().is_tuple ? "tuple.count" : "list.count", a, {"value"}, 1);
         int64_t n = 0;
         for (const Value& item : l.Items()) n += Equals(item, *b.Find(0)) ? 1 : 0;
         return Value::Int(n);
       }},
  };
  return *methods;
}

Value Bind(const Value& receiver, std::string_view name, Method method) {
  std::string qualified = TypeName(receiver) + "." + std::string(name);
  return Value::Function(
      qualified, [receiver, method](const CallArgs& args) { return method(receiver, args); });
}

std::optional<Value> Lookup(const std::unordered_map<std::string_view, Method>& table,
                            const Value& receiver, std::string_view name) {
  auto it = table.find(name);
  if (it == table.end()) return std::nullopt;
  return Bind(receiver, name, it->second);
}

}  // namespace

std::optional<Value> FindMethod(const Value& receiver, std::string_view name) {
  switch (receiver.kind()) {
    case Value::Kind::kString:
      return Lookup(StringMethods(), receiver, name);
    case Value::Kind::kDict:
      return Lookup(DictMethods(), receiver, name);
    case Value::Kind::kList:
      if (name == "copy" && !receiver.AsList().is_tuple) {
        return Value::Function("list.copy", [receiver](const CallArgs& args) {
          ArgBinder b("list.copy", args, {});
          return receiver;
        });
      }
      return Lookup(ListMethods(), receiver, name);
    default:
      return std::nullopt;
  }
}

bool IsUnsafeMethod(const Value& receiver, std::string_view name) {
  if (receiver.is_list() && !receiver.AsList().is_tuple) {
    return name == "append" || name == "clear" || name == "pop" || name == "reverse" ||
           name == "insert" || name == "sort" || name == "extend" || name == "remove";
  }
  if (receiver.is_dict()) {
    return name == "clear" || name == "pop" || name == "popitem" || name == "setdefault" ||
           name == "update";
  }
  return false;
}

}  // namespace modelgrow::jinja
