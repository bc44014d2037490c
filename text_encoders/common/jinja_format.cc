#include "common/jinja_format.h"

#include <cmath>
#include <cstdio>
#include <optional>
#include <vector>

#include "common/jinja_error.h"
#include "common/jinja_ops.h"
#include "common/jinja_unicode.h"

namespace modelgrow::jinja {

namespace {

struct Spec {
  char32_t fill = ' ';
  char align = 0;  // '<', '>', '^', '=' or 0 for the type's default
  char sign = '-';
  bool alternate = false;
  bool zero = false;
  int width = -1;
  char grouping = 0;
  int precision = -1;
  char type = 0;
};

std::string Pad(std::string body, const Spec& spec, char default_align) {
  size_t length = unicode::CodePointCount(body);
  if (spec.width < 0 || length >= static_cast<size_t>(spec.width)) return body;
  size_t missing = static_cast<size_t>(spec.width) - length;
  char align = spec.align ? spec.align : default_align;
  std::string fill;
  unicode::AppendUtf8(fill, spec.fill);
  auto repeat = [&fill](size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i) out += fill;
    return out;
  };
  if (align == '<') return body + repeat(missing);
  if (align == '^') return repeat(missing / 2) + body + repeat(missing - missing / 2);
  if (align == '=') {
    size_t sign_length = (!body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' '));
    if (body.size() > sign_length + 1 && body[sign_length] == '0' &&
        (body[sign_length + 1] == 'x' || body[sign_length + 1] == 'X' ||
         body[sign_length + 1] == 'o' || body[sign_length + 1] == 'b')) {
      sign_length += 2;
    }
    return body.substr(0, sign_length) + repeat(missing) + body.substr(sign_length);
  }
  return repeat(missing) + body;
}

std::string Group(const std::string& digits, char separator, size_t every) {
  std::string out;
  size_t count = 0;
  for (size_t i = digits.size(); i-- > 0;) {
    if (count > 0 && count % every == 0) out.insert(out.begin(), separator);
    out.insert(out.begin(), digits[i]);
    ++count;
  }
  return out;
}

std::string SignPrefix(bool negative, char sign) {
  if (negative) return "-";
  if (sign == '+') return "+";
  if (sign == ' ') return " ";
  return "";
}

// An integer laid out by spec; `min_digits` is %-format's precision (zero-extended digits).
std::string FormatInteger(int64_t value, const Spec& spec, int min_digits) {
  bool negative = value < 0;
  uint64_t magnitude =
      negative ? static_cast<uint64_t>(-(value + 1)) + 1 : static_cast<uint64_t>(value);
  int base = 10;
  std::string prefix;
  switch (spec.type) {
    case 'x':
      base = 16;
      if (spec.alternate) prefix = "0x";
      break;
    case 'X':
      base = 16;
      if (spec.alternate) prefix = "0X";
      break;
    case 'o':
      base = 8;
      if (spec.alternate) prefix = "0o";
      break;
    case 'b':
      base = 2;
      if (spec.alternate) prefix = "0b";
      break;
    default:
      break;
  }
  const char* digit_chars = spec.type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string digits;
  do {
    digits.insert(digits.begin(), digit_chars[magnitude % base]);
    magnitude /= base;
  } while (magnitude > 0);
  if (min_digits > 0 && digits.size() < static_cast<size_t>(min_digits)) {
    digits.insert(0, static_cast<size_t>(min_digits) - digits.size(), '0');
  }
  if (spec.grouping) digits = Group(digits, spec.grouping, base == 10 ? 3 : 4);
  std::string body = SignPrefix(negative, spec.sign) + prefix + digits;
  if (spec.zero && spec.align == 0) {
    Spec zero_spec = spec;
    zero_spec.fill = '0';
    zero_spec.align = '=';
    return Pad(body, zero_spec, '>');
  }
  return Pad(body, spec, '>');
}

std::string FormatFloat(double value, const Spec& spec, bool percent_style) {
  char type = spec.type;
  int precision = spec.precision;
  std::string body;
  bool negative = std::signbit(value) && !std::isnan(value);
  double magnitude = std::fabs(value);
  if (type == 0 && precision < 0) {
    body = FloatRepr(magnitude);
  } else if (std::isinf(magnitude) || std::isnan(magnitude)) {
    body = std::isnan(magnitude) ? "nan" : "inf";
    if (type == 'E' || type == 'F' || type == 'G') body = unicode::Upper(body);
  } else {
    bool percent = type == '%';
    char c_type = type == 0 ? 'g' : percent ? 'f' : type;
    if (precision < 0) precision = 6;
    if (type == 0 && precision == 0) precision = 1;
    std::string c_format =
        std::string("%") + (spec.alternate ? "#" : "") + "." + std::to_string(precision) + c_type;
    double shown = percent ? magnitude * 100.0 : magnitude;
    int size = std::snprintf(nullptr, 0, c_format.c_str(), shown);
    body.resize(static_cast<size_t>(size) + 1);
    std::snprintf(body.data(), body.size(), c_format.c_str(), shown);
    body.resize(static_cast<size_t>(size));
    if (type == 0 && !percent_style && body.find_first_of(".e") == std::string::npos) {
      body += ".0";
    }
    if (percent) body += "%";
  }
  if (spec.grouping) {
    size_t end = body.find_first_not_of("0123456789");
    if (end == std::string::npos) end = body.size();
    body = Group(body.substr(0, end), spec.grouping, 3) + body.substr(end);
  }
  body = SignPrefix(negative, spec.sign) + body;
  if (spec.zero && spec.align == 0) {
    Spec zero_spec = spec;
    zero_spec.fill = '0';
    zero_spec.align = '=';
    return Pad(body, zero_spec, '>');
  }
  return Pad(body, spec, '>');
}

std::string Truncate(const std::string& text, int precision) {
  if (precision < 0) return text;
  if (unicode::IsAscii(text)) return text.substr(0, static_cast<size_t>(precision));
  std::u32string decoded = unicode::Decode(text);
  return unicode::Encode(decoded.substr(0, static_cast<size_t>(precision)));
}

// --- %-formatting -------------------------------------------------------------------------

std::string PercentConvert(const Value& value, Spec spec, char conversion) {
  switch (conversion) {
    case 's':
      return Pad(Truncate(ToStr(value), spec.precision), spec, '>');
    case 'r':
    case 'a':
      return Pad(Truncate(Repr(value), spec.precision), spec, '>');
    case 'c': {
      std::string out;
      if (value.is_int() || value.is_bool()) {
        unicode::AppendUtf8(out, static_cast<char32_t>(value.AsInteger()));
      } else if (value.is_string() && unicode::CodePointCount(value.AsString()) == 1) {
        out = value.AsString();
      } else {
        throw EvalError("%c requires int or char");
      }
      return Pad(out, spec, '>');
    }
    case 'd':
    case 'i':
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
      bool decimal = conversion == 'd' || conversion == 'i' || conversion == 'u';
      if (!(value.is_int() || value.is_bool() || (decimal && value.is_float()))) {
        throw EvalError(std::string("%") + conversion +
                        " format: " + (decimal ? "a real number" : "an integer") +
                        " is required, not " + TypeName(value));
      }
      int64_t integer =
          value.is_float() ? static_cast<int64_t>(std::trunc(value.AsFloat())) : value.AsInteger();
      spec.type = decimal ? 'd' : conversion;
      int min_digits = spec.precision;
      return FormatInteger(integer, spec, min_digits);
    }
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G':
      if (!value.is_number()) throw EvalError("must be real number, not " + TypeName(value));
      spec.type = conversion;
      if (spec.precision < 0) spec.precision = 6;
      return FormatFloat(value.AsDouble(), spec, true);
    default:
      throw EvalError(std::string("unsupported format character '") + conversion + "'");
  }
}

// --- str.format ---------------------------------------------------------------------------

Spec ParseSpec(std::string_view text) {
  Spec spec;
  std::u32string s = unicode::Decode(text);
  size_t i = 0;
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (s.size() >= 2 && is_align(s[1])) {
    spec.fill = s[0];
    spec.align = static_cast<char>(s[1]);
    i = 2;
  } else if (!s.empty() && is_align(s[0])) {
    spec.align = static_cast<char>(s[0]);
    i = 1;
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' '))
    spec.sign = static_cast<char>(s[i++]);
  if (i < s.size() && s[i] == '#') {
    spec.alternate = true;
    ++i;
  }
  if (i < s.size() && s[i] == '0') {
    spec.zero = true;
    ++i;
  }
  if (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    spec.width = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9')
      spec.width = spec.width * 10 + (s[i++] - '0');
  }
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) spec.grouping = static_cast<char>(s[i++]);
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (i >= s.size() || s[i] < '0' || s[i] > '9')
      throw EvalError("Format specifier missing precision");
    spec.precision = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      spec.precision = spec.precision * 10 + (s[i++] - '0');
    }
  }
  if (i < s.size()) spec.type = static_cast<char>(s[i++]);
  if (i < s.size()) throw EvalError("Invalid format specifier");
  return spec;
}

std::string FormatWithSpec(const Value& value, std::string_view spec_text) {
  if (spec_text.empty()) return ToStr(value);
  Spec spec = ParseSpec(spec_text);
  if (value.is_string()) {
    if (spec.type != 0 && spec.type != 's') {
      throw EvalError(std::string("Unknown format code '") + spec.type +
                      "' for object of type 'str'");
    }
    return Pad(Truncate(value.AsString(), spec.precision), spec, '<');
  }
  if (value.is_int() || value.is_bool()) {
    switch (spec.type) {
      case 0:
      case 'd':
      case 'n':
      case 'x':
      case 'X':
      case 'o':
      case 'b':
        if (spec.precision >= 0)
          throw EvalError("Precision not allowed in integer format specifier");
        if (spec.type == 'n') spec.type = 'd';
        return FormatInteger(value.AsInteger(), spec, 0);
      case 'c': {
        std::string out;
        unicode::AppendUtf8(out, static_cast<char32_t>(value.AsInteger()));
        return Pad(out, spec, '<');
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G':
      case '%':
        return FormatFloat(value.AsDouble(), spec, false);
      default:
        throw EvalError(std::string("Unknown format code '") + spec.type +
                        "' for object of type 'int'");
    }
  }
  if (value.is_float()) {
    switch (spec.type) {
      case 0:
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G':
      case '%':
        return FormatFloat(value.AsFloat(), spec, false);
      case 'n':
        spec.type = 'g';
        return FormatFloat(value.AsFloat(), spec, false);
      default:
        throw EvalError(std::string("Unknown format code '") + spec.type +
                        "' for object of type 'float'");
    }
  }
  throw EvalError("unsupported format string passed to " + TypeName(value) + ".__format__");
}

const Value* FindKeyword(const CallArgs& args, std::string_view name) {
  for (const auto& [key, value] : args.keyword) {
    if (key == name) return &value;
  }
  return nullptr;
}

}  // namespace

std::string PercentFormat(std::string_view format, const Value& args) {
  std::vector<Value> positional;
  const DictData* mapping = nullptr;
  if (args.is_list() && args.AsList().is_tuple) {
    positional = args.Items();
  } else {
    if (args.is_dict()) mapping = &args.AsDict();
    positional.push_back(args);
  }
  size_t next = 0;
  auto take = [&]() -> const Value& {
    if (next >= positional.size()) throw EvalError("not enough arguments for format string");
    return positional[next++];
  };
  auto read_number = [&](size_t& i) {
    if (i < format.size() && format[i] == '*') {
      ++i;
      const Value& v = take();
      if (!(v.is_int() || v.is_bool())) throw EvalError("* wants int");
      return static_cast<int>(v.AsInteger());
    }
    int n = 0;
    while (i < format.size() && format[i] >= '0' && format[i] <= '9')
      n = n * 10 + (format[i++] - '0');
    return n;
  };
  std::string out;
  size_t i = 0;
  while (i < format.size()) {
    char c = format[i];
    if (c != '%') {
      out.push_back(c);
      ++i;
      continue;
    }
    ++i;
    if (i >= format.size()) throw EvalError("incomplete format");
    std::optional<std::string> key;
    if (format[i] == '(') {
      size_t close = format.find(')', i);
      if (close == std::string_view::npos) throw EvalError("incomplete format key");
      key = std::string(format.substr(i + 1, close - i - 1));
      i = close + 1;
    }
    Spec spec;
    for (; i < format.size(); ++i) {
      char flag = format[i];
      if (flag == '-') {
        spec.align = '<';
      } else if (flag == '+') {
        spec.sign = '+';
      } else if (flag == ' ') {
        if (spec.sign != '+') spec.sign = ' ';
      } else if (flag == '#') {
        spec.alternate = true;
      } else if (flag == '0') {
        spec.zero = true;
      } else {
        break;
      }
    }
    if (i < format.size() && (format[i] == '*' || (format[i] >= '0' && format[i] <= '9'))) {
      spec.width = read_number(i);
      if (spec.width < 0) {
        spec.align = '<';
        spec.width = -spec.width;
      }
    }
    if (i < format.size() && format[i] == '.') {
      ++i;
      spec.precision = read_number(i);
    }
    while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
    if (i >= format.size()) throw EvalError("incomplete format");
    char conversion = format[i++];
    if (conversion == '%') {
      out.push_back('%');
      continue;
    }
    if (spec.align == '<') spec.zero = false;
    const Value* value;
    if (key) {
      if (mapping == nullptr) throw EvalError("format requires a mapping");
      value = mapping->Find(*key);
      if (value == nullptr) throw EvalError(StringRepr(*key));
    } else {
      value = &take();
    }
    out += PercentConvert(*value, spec, conversion);
  }
  if (mapping == nullptr && next < positional.size()) {
    throw EvalError("not all arguments converted during string formatting");
  }
  return out;
}

std::string BraceFormat(std::string_view format, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  bool used_auto = false;
  bool used_manual = false;
  size_t i = 0;
  while (i < format.size()) {
    char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out.push_back('}');
        i += 2;
        continue;
      }
      throw EvalError("Single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out.push_back('{');
      i += 2;
      continue;
    }
    size_t close = format.find('}', i);
    if (close == std::string_view::npos) throw EvalError("expected '}' before end of string");
    std::string_view field = format.substr(i + 1, close - i - 1);
    if (field.find('{') != std::string_view::npos) {
      throw EvalError("nested replacement fields in a format spec are not supported");
    }
    i = close + 1;
    std::string_view spec;
    char conversion = 0;
    size_t colon = field.find(':');
    if (colon != std::string_view::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    size_t bang = field.find('!');
    if (bang != std::string_view::npos) {
      if (bang + 2 != field.size()) throw EvalError("expected ':' after conversion specifier");
      conversion = field[bang + 1];
      field = field.substr(0, bang);
    }
    size_t name_end = field.find_first_of(".[");
    std::string_view name = field.substr(0, name_end);
    Value value;
    if (name.empty()) {
      if (used_manual) {
        throw EvalError(
            "cannot switch from manual field specification to automatic field numbering");
      }
      used_auto = true;
      if (auto_index >= args.positional.size()) throw EvalError("tuple index out of range");
      value = args.positional[auto_index++];
    } else if (name.find_first_not_of("0123456789") == std::string_view::npos) {
      if (used_auto) {
        throw EvalError(
            "cannot switch from automatic field numbering to manual field specification");
      }
      used_manual = true;
      size_t index = std::stoul(std::string(name));
      if (index >= args.positional.size()) throw EvalError("tuple index out of range");
      value = args.positional[index];
    } else {
      const Value* found = FindKeyword(args, name);
      if (found == nullptr) throw EvalError(StringRepr(name));
      value = *found;
    }
    size_t pos = name_end;
    while (pos != std::string_view::npos && pos < field.size()) {
      if (field[pos] == '.') {
        size_t end = field.find_first_of(".[", pos + 1);
        std::string_view attr = field.substr(
            pos + 1, end == std::string_view::npos ? std::string_view::npos : end - pos - 1);
        value = GetAttr(value, attr);
        pos = end;
      } else {
        size_t end = field.find(']', pos);
        if (end == std::string_view::npos) throw EvalError("Missing ']' in format string");
        std::string_view key = field.substr(pos + 1, end - pos - 1);
        Value key_value =
            key.find_first_not_of("0123456789") == std::string_view::npos && !key.empty()
                ? Value::Int(std::stoll(std::string(key)))
                : Value::String(std::string(key));
        value = GetItem(value, key_value);
        pos = end + 1;
      }
    }
    if (conversion == 'r' || conversion == 'a') {
      value = Value::String(Repr(value));
    } else if (conversion == 's') {
      value = Value::String(ToStr(value));
    } else if (conversion != 0) {
      throw EvalError(std::string("Unknown conversion specifier ") + conversion);
    }
    out += FormatWithSpec(value, spec);
  }
  return out;
}

}  // namespace modelgrow::jinja
