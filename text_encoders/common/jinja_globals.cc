// Global functions: jinja2's range, dict and namespace, and the two transformers adds for
// chat templates, raise_exception and strftime_now.
#include <chrono>
#include <ctime>
#include <optional>
#include <string>

#include "common/jinja_args.h"
#include "common/jinja_builtins.h"
#include "common/jinja_error.h"
#include "common/jinja_ops.h"

namespace modelgrow::jinja {

namespace {

// jinja2's sandbox refuses larger ranges.
constexpr int64_t kMaxRange = 100000;

class Namespace : public ObjectData {
 public:
  explicit Namespace(DictData attrs) : attrs_(std::move(attrs)) {}
  std::string TypeName() const override { return "Namespace"; }
  Value GetAttr(std::string_view name) const override {
    if (const Value* v = attrs_.Find(name)) return *v;
    return Value::Undefined("'Namespace object' has no attribute '" + std::string(name) + "'");
  }
  bool SetAttr(const std::string& name, Value value) override {
    attrs_.Set(Value::String(name), std::move(value));
    return true;
  }
  std::string Repr() const override {
    auto copy = std::make_shared<DictData>(attrs_);
    return "<Namespace " + jinja::Repr(Value::Dict(copy)) + ">";
  }

 private:
  DictData attrs_;
};

// dict(mapping_or_pairs, **kwargs), as Python builds it.
DictData BuildDict(const CallArgs& args, const char* function) {
  DictData dict;
  if (args.positional.size() > 1) {
    throw EvalError(std::string(function) + " expected at most 1 argument, got " +
                    std::to_string(args.positional.size()));
  }
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      for (const auto& [k, v] : source.AsDict().entries()) dict.Set(k, v);
    } else {
      for (const Value& pair : Iterate(source)) {
        std::vector<Value> kv = Iterate(pair);
        if (kv.size() != 2) {
          throw EvalError(std::string(function) + " update sequence element has length " +
                          std::to_string(kv.size()) + "; 2 is required");
        }
        dict.Set(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [key, value] : args.keyword) dict.Set(Value::String(key), value);
  return dict;
}

Value Range(const CallArgs& args) {
  if (!args.keyword.empty()) throw EvalError("range() takes no keyword arguments");
  auto integer = [](const Value& v) {
    if (v.is_int() || v.is_bool()) return v.AsInteger();
    RequireDefined(v);
    throw EvalError("'" + TypeName(v) + "' object cannot be interpreted as an integer");
  };
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step = 1;
  switch (args.positional.size()) {
    case 1:
      stop = integer(args.positional[0]);
      break;
    case 2:
      start = integer(args.positional[0]);
      stop = integer(args.positional[1]);
      break;
    case 3:
      start = integer(args.positional[0]);
      stop = integer(args.positional[1]);
      step = integer(args.positional[2]);
      break;
    default:
      throw EvalError("range expected at most 3 arguments, got " +
                      std::to_string(args.positional.size()));
  }
  if (step == 0) throw EvalError("range() arg 3 must not be zero");
  int64_t count = 0;
  if (step > 0 && start < stop) count = (stop - start + step - 1) / step;
  if (step < 0 && start > stop) count = (start - stop - step - 1) / -step;
  if (count > kMaxRange) {
    throw EvalError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  }
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) items.push_back(Value::Int(start + i * step));
  return Value::List(std::move(items));
}

std::tm LocalNow() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm local{};
  localtime_r(&now, &local);
  return local;
}

}  // namespace

std::optional<Value> FindGlobal(std::string_view name, const Clock& clock) {
  if (name == "range") return Value::Function("range", Range);
  if (name == "dict") {
    return Value::Function("dict", [](const CallArgs& args) {
      return Value::Dict(std::make_shared<DictData>(BuildDict(args, "dict")));
    });
  }
  if (name == "namespace") {
    return Value::Function("namespace", [](const CallArgs& args) {
      return Value::Object(std::make_shared<Namespace>(BuildDict(args, "namespace")));
    });
  }
  if (name == "raise_exception") {
    return Value::Function("raise_exception", [](const CallArgs& args) -> Value {
      ArgBinder b("raise_exception", args, {"message"}, 1);
      throw RaisedError(ToStr(*b.Find(0)));
    });
  }
  if (name == "strftime_now") {
    return Value::Function("strftime_now", [clock](const CallArgs& args) {
      ArgBinder b("strftime_now", args, {"format"}, 1);
      std::string format = b.String(0, "");
      std::tm time = clock ? clock() : LocalNow();
      if (format.empty()) return Value::String("");
      // strftime returns 0 both for "buffer too small" and for an empty result; grow the
      // buffer a few times before accepting an empty result.
      for (size_t size = 256; size <= 65536; size *= 4) {
        std::string buffer(size, '\0');
        size_t written = std::strftime(buffer.data(), buffer.size(), format.c_str(), &time);
        if (written > 0) return Value::String(buffer.substr(0, written));
      }
      return Value::String("");
    });
  }
  if (name == "lipsum" || name == "cycler" || name == "joiner") {
    return Value::Undefined("the jinja2 global '" + std::string(name) +
                            "' is not supported by this interpreter");
  }
  return std::nullopt;
}

}  // namespace modelgrow::jinja
