#include "common/jinja_interpreter.h"

#include <functional>

#include "common/jinja_error.h"
#include "common/jinja_ops.h"

namespace modelgrow::jinja {

namespace {

// Macro recursion deeper than this is a template bug (Python would hit its own limit).
constexpr int kMaxDepth = 200;

// The `loop` variable of one for-loop iteration.
class LoopContext : public ObjectData {
 public:
  struct Shared {
    std::vector<Value> items;
    int depth0 = 0;
    bool has_changed_value = false;
    std::vector<Value> last_changed_value;
    std::function<Value(const Value&)> recurse;  // set for recursive loops
  };

  LoopContext(std::shared_ptr<Shared> shared, size_t index0)
      : shared_(std::move(shared)), index0_(index0) {}

  std::string TypeName() const override { return "LoopContext"; }

  Value GetAttr(std::string_view name) const override {
    int64_t index0 = static_cast<int64_t>(index0_);
    int64_t length = static_cast<int64_t>(shared_->items.size());
    if (name == "index0") return Value::Int(index0);
    if (name == "index") return Value::Int(index0 + 1);
    if (name == "revindex0") return Value::Int(length - index0 - 1);
    if (name == "revindex") return Value::Int(length - index0);
    if (name == "first") return Value::Bool(index0 == 0);
    if (name == "last") return Value::Bool(index0 == length - 1);
    if (name == "length") return Value::Int(length);
    if (name == "depth0") return Value::Int(shared_->depth0);
    if (name == "depth") return Value::Int(shared_->depth0 + 1);
    if (name == "previtem") {
      if (index0 == 0) return Value::Undefined("there is no previous item");
      return shared_->items[index0_ - 1];
    }
    if (name == "nextitem") {
      if (index0 + 1 >= length) return Value::Undefined("there is no next item");
      return shared_->items[index0_ + 1];
    }
    if (name == "cycle") {
      size_t index = index0_;
      return Value::Function("loop.cycle", [index](const CallArgs& args) {
        if (args.positional.empty()) throw EvalError("no items for cycling given");
        return args.positional[index % args.positional.size()];
      });
    }
    if (name == "changed") {
      std::shared_ptr<Shared> shared = shared_;
      return Value::Function("loop.changed", [shared](const CallArgs& args) {
        const std::vector<Value>& now = args.positional;
        bool same = shared->has_changed_value && now.size() == shared->last_changed_value.size();
        for (size_t i = 0; same && i < now.size(); ++i) {
          same = Equals(now[i], shared->last_changed_value[i]);
        }
        if (same) return Value::Bool(false);
        shared->has_changed_value = true;
        shared->last_changed_value = now;
        return Value::Bool(true);
      });
    }
    return Value::Undefined("'LoopContext object' has no attribute '" + std::string(name) + "'");
  }

  std::string Repr() const override {
    return "<LoopContext " + std::to_string(index0_ + 1) + "/" +
           std::to_string(shared_->items.size()) + ">";
  }

  bool IsCallable() const override { return true; }

  Value Call(const CallArgs& args) override {
    if (!shared_->recurse) {
      throw EvalError("The loop must have the 'recursive' marker to be called recursively.");
    }
    if (args.positional.size() != 1 || !args.keyword.empty()) {
      throw EvalError("loop() takes exactly one argument, the items to recurse into");
    }
    return shared_->recurse(args.positional[0]);
  }

 private:
  std::shared_ptr<Shared> shared_;
  size_t index0_;
};

}  // namespace

const Value* Scope::Find(std::string_view name) const {
  for (const Scope* s = this; s != nullptr; s = s->parent_.get()) {
    for (auto it = s->vars_.rbegin(); it != s->vars_.rend(); ++it) {
      if (it->first == name) return &it->second;
    }
  }
  return nullptr;
}

void Scope::Set(const std::string& name, Value value) {
  for (auto& entry : vars_) {
    if (entry.first == name) {
      entry.second = std::move(value);
      return;
    }
  }
  vars_.emplace_back(name, std::move(value));
}

Interpreter::Interpreter(const std::string& source_name, Clock clock)
    : source_name_(source_name), clock_(std::move(clock)) {}

void Interpreter::Fail(SourcePos pos, const std::string& message) {
  throw TemplateError(ErrorKind::kRender, source_name_, pos.line, pos.column, message);
}

std::string Interpreter::Render(const Body& body, std::shared_ptr<Scope> globals) {
  std::string out;
  out_ = &out;
  root_out_ = &out;
  generation_spans_.clear();
  auto scope = std::make_shared<Scope>(std::move(globals));
  try {
    ExecBody(body, scope);
  } catch (...) {
    kept_scopes_.clear();
    throw;
  }
  kept_scopes_.clear();
  out_ = nullptr;
  root_out_ = nullptr;
  return out;
}

Interpreter::Flow Interpreter::ExecBody(const Body& body, const ScopePtr& scope) {
  for (const StmtPtr& stmt : body) {
    Flow flow = Exec(*stmt, scope);
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

std::string Interpreter::Capture(const Body& body, const ScopePtr& scope, Flow* flow) {
  std::string buffer;
  std::string* saved = out_;
  out_ = &buffer;
  try {
    Flow f = ExecBody(body, scope);
    if (flow) *flow = f;
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buffer;
}

Interpreter::Flow Interpreter::Exec(const Stmt& stmt, const ScopePtr& scope) {
  switch (stmt.kind) {
    case Stmt::Kind::kText:
      *out_ += static_cast<const TextStmt&>(stmt).text;
      return Flow::kNormal;
    case Stmt::Kind::kPrint:
      *out_ += ToStr(Eval(*static_cast<const PrintStmt&>(stmt).expr, scope));
      return Flow::kNormal;
    case Stmt::Kind::kIf: {
      const auto& node = static_cast<const IfStmt&>(stmt);
      for (const auto& [test, body] : node.branches) {
        if (Truthy(Eval(*test, scope))) return ExecBody(body, scope);
      }
      return ExecBody(node.else_body, scope);
    }
    case Stmt::Kind::kFor:
      return ExecFor(static_cast<const ForStmt&>(stmt), scope);
    case Stmt::Kind::kSet: {
      const auto& node = static_cast<const SetStmt&>(stmt);
      Assign(*node.target, Eval(*node.value, scope), scope);
      return Flow::kNormal;
    }
    case Stmt::Kind::kSetBlock: {
      const auto& node = static_cast<const SetBlockStmt&>(stmt);
      Flow flow = Flow::kNormal;
      Value value = Value::String(Capture(node.body, std::make_shared<Scope>(scope), &flow));
      if (node.filter)
        value = EvalFilter(static_cast<const FilterExpr&>(*node.filter), scope, &value);
      Assign(*node.target, value, scope);
      return flow;
    }
    case Stmt::Kind::kMacro: {
      const auto& node = static_cast<const MacroStmt&>(stmt);
      scope->Set(node.def.name, MakeMacro(node.def, scope));
      return Flow::kNormal;
    }
    case Stmt::Kind::kCallBlock: {
      const auto& node = static_cast<const CallBlockStmt&>(stmt);
      Value caller = MakeMacro(node.caller, scope);
      *out_ += ToStr(EvalCall(*node.call, scope, &caller));
      return Flow::kNormal;
    }
    case Stmt::Kind::kFilterBlock: {
      const auto& node = static_cast<const FilterBlockStmt&>(stmt);
      Flow flow = Flow::kNormal;
      Value text = Value::String(Capture(node.body, std::make_shared<Scope>(scope), &flow));
      *out_ += ToStr(EvalFilter(static_cast<const FilterExpr&>(*node.filter), scope, &text));
      return flow;
    }
    case Stmt::Kind::kWith: {
      const auto& node = static_cast<const WithStmt&>(stmt);
      std::vector<Value> values;
      for (const auto& value : node.values) values.push_back(Eval(*value, scope));
      auto inner = std::make_shared<Scope>(scope);
      for (size_t i = 0; i < node.targets.size(); ++i) Assign(*node.targets[i], values[i], inner);
      return ExecBody(node.body, inner);
    }
    case Stmt::Kind::kBreak:
      return Flow::kBreak;
    case Stmt::Kind::kContinue:
      return Flow::kContinue;
    case Stmt::Kind::kGeneration: {
      const auto& node = static_cast<const GenerationStmt&>(stmt);
      std::string text = Capture(node.body, std::make_shared<Scope>(scope), nullptr);
      if (out_ == root_out_)
        generation_spans_.emplace_back(out_->size(), out_->size() + text.size());
      *out_ += text;
      return Flow::kNormal;
    }
  }
  return Flow::kNormal;
}

Interpreter::Flow Interpreter::ExecFor(const ForStmt& node, const ScopePtr& scope) {
  RunLoop(node, scope, Eval(*node.iter, scope), 0);
  return Flow::kNormal;
}

void Interpreter::RunLoop(const ForStmt& node, const ScopePtr& scope, const Value& iterable,
                          int depth0) {
  auto shared = std::make_shared<LoopContext::Shared>();
  try {
    shared->items = Iterate(iterable);
  } catch (const EvalError& e) {
    Fail(node.iter->pos, e.what());
  }
  if (node.filter) {
    // jinja2 filters before the loop runs, so loop.length and loop.last count only the
    // items that pass.
    std::vector<Value> kept;
    for (const Value& item : shared->items) {
      auto test_scope = std::make_shared<Scope>(scope);
      Assign(*node.target, item, test_scope);
      if (Truthy(Eval(*node.filter, test_scope))) kept.push_back(item);
    }
    shared->items = std::move(kept);
  }
  shared->depth0 = depth0;
  if (node.recursive) {
    // loop(children) renders the body again one level deeper and returns the text. The scope
    // is held weakly for the same reason as a macro's.
    kept_scopes_.push_back(scope);
    std::weak_ptr<Scope> weak_scope = scope;
    shared->recurse = [this, &node, weak_scope, depth0](const Value& items) {
      ScopePtr closure = weak_scope.lock();
      if (!closure) throw EvalError("a recursive loop outlived its template");
      std::string buffer;
      std::string* saved = out_;
      out_ = &buffer;
      try {
        RunLoop(node, closure, items, depth0 + 1);
      } catch (...) {
        out_ = saved;
        throw;
      }
      out_ = saved;
      return Value::String(std::move(buffer));
    };
  }
  if (shared->items.empty()) {
    ExecBody(node.else_body, std::make_shared<Scope>(scope));
    return;
  }
  for (size_t i = 0; i < shared->items.size(); ++i) {
    auto iteration = std::make_shared<Scope>(scope);
    Assign(*node.target, shared->items[i], iteration);
    iteration->Set("loop", Value::Object(std::make_shared<LoopContext>(shared, i)));
    if (ExecBody(node.body, iteration) == Flow::kBreak) break;
  }
}

void Interpreter::Assign(const Expr& target, const Value& value, const ScopePtr& scope) {
  switch (target.kind) {
    case Expr::Kind::kName:
      scope->Set(static_cast<const NameExpr&>(target).name, value);
      return;
    case Expr::Kind::kTuple: {
      const auto& names = static_cast<const SequenceExpr&>(target).items;
      std::vector<Value> items;
      try {
        items = Iterate(value);
      } catch (const EvalError&) {
        Fail(target.pos, "cannot unpack non-iterable " + TypeName(value) + " object");
      }
      if (items.size() < names.size()) {
        Fail(target.pos, "not enough values to unpack (expected " + std::to_string(names.size()) +
                             ", got " + std::to_string(items.size()) + ")");
      }
      if (items.size() > names.size()) {
        Fail(target.pos,
             "too many values to unpack (expected " + std::to_string(names.size()) + ")");
      }
      for (size_t i = 0; i < names.size(); ++i) Assign(*names[i], items[i], scope);
      return;
    }
    case Expr::Kind::kNamespaceRef: {
      const auto& ref = static_cast<const NamespaceRefExpr&>(target);
      const Value* ns = scope->Find(ref.name);
      if (ns == nullptr || !ns->is_object() || !ns->AsObject().SetAttr(ref.attr, value)) {
        Fail(target.pos, "cannot assign attribute on non-namespace object");
      }
      return;
    }
    default:
      Fail(target.pos, "cannot assign to this expression");
  }
}

Value Interpreter::Lookup(const std::string& name, const ScopePtr& scope) {
  if (const Value* found = scope->Find(name)) return *found;
  if (std::optional<Value> global = FindGlobal(name, clock_)) return *global;
  return Value::Undefined("'" + name + "' is undefined");
}

Value Interpreter::Eval(const Expr& expr, const ScopePtr& scope) {
  try {
    return EvalUnchecked(expr, scope);
  } catch (const EvalError& e) {
    Fail(expr.pos, e.what());
  } catch (const RaisedError& e) {
    throw TemplateError(ErrorKind::kRaised, source_name_, expr.pos.line, expr.pos.column, e.what());
  }
}

CallArgs Interpreter::EvalArgs(const CallArgsExpr& args, const ScopePtr& scope) {
  CallArgs out;
  for (const auto& arg : args.positional) out.positional.push_back(Eval(*arg, scope));
  for (const auto& [key, arg] : args.keyword) out.keyword.emplace_back(key, Eval(*arg, scope));
  if (args.star_args) {
    for (const Value& v : Iterate(Eval(*args.star_args, scope))) out.positional.push_back(v);
  }
  if (args.star_kwargs) {
    Value kwargs = Eval(*args.star_kwargs, scope);
    if (!kwargs.is_dict()) {
      throw EvalError("argument after ** must be a mapping, not " + TypeName(kwargs));
    }
    for (const auto& [k, v] : kwargs.AsDict().entries()) {
      if (!k.is_string()) throw EvalError("keywords must be strings");
      out.keyword.emplace_back(k.AsString(), v);
    }
  }
  return out;
}

Value Interpreter::EvalCall(const CallExpr& node, const ScopePtr& scope, const Value* caller) {
  Value callee = Eval(*node.callee, scope);
  CallArgs args = EvalArgs(node.args, scope);
  if (caller) args.keyword.emplace_back("caller", *caller);
  try {
    switch (callee.kind()) {
      case Value::Kind::kFunction:
        return callee.AsFunction().call(args);
      case Value::Kind::kObject:
        return callee.AsObject().Call(args);
      case Value::Kind::kUndefined:
        ThrowUndefined(callee);
      default:
        throw EvalError("'" + TypeName(callee) + "' object is not callable");
    }
  } catch (const EvalError& e) {
    Fail(node.pos, e.what());
  } catch (const RaisedError& e) {
    throw TemplateError(ErrorKind::kRaised, source_name_, node.pos.line, node.pos.column, e.what());
  }
}

Value Interpreter::EvalFilter(const FilterExpr& node, const ScopePtr& scope,
                              const Value* block_input) {
  Value input;
  if (!node.input) {
    input = *block_input;
  } else if (block_input && node.input->kind == Expr::Kind::kFilter) {
    // A filter block's chain ends in the captured text rather than an expression.
    input = EvalFilter(static_cast<const FilterExpr&>(*node.input), scope, block_input);
  } else {
    input = Eval(*node.input, scope);
  }
  CallArgs args = EvalArgs(node.args, scope);
  if (node.fn == nullptr) Fail(node.pos, UnknownBuiltinMessage(node.name, true, true));
  try {
    return node.fn(input, args);
  } catch (const EvalError& e) {
    Fail(node.pos, e.what());
  }
}

bool Interpreter::EvalCompare(const CompareExpr& node, const ScopePtr& scope) {
  Value left = Eval(*node.first, scope);
  for (const auto& [op, expr] : node.rest) {
    Value right = Eval(*expr, scope);
    bool result = false;
    switch (op) {
      case CompareOp::kEq:
        result = Equals(left, right);
        break;
      case CompareOp::kNe:
        result = !Equals(left, right);
        break;
      case CompareOp::kLt:
        result = Compare(left, right, OrderOp::kLt);
        break;
      case CompareOp::kLe:
        result = Compare(left, right, OrderOp::kLe);
        break;
      case CompareOp::kGt:
        result = Compare(left, right, OrderOp::kGt);
        break;
      case CompareOp::kGe:
        result = Compare(left, right, OrderOp::kGe);
        break;
      case CompareOp::kIn:
        result = Contains(right, left);
        break;
      case CompareOp::kNotIn:
        result = !Contains(right, left);
        break;
    }
    if (!result) return false;
    left = std::move(right);
  }
  return true;
}

Value Interpreter::EvalUnchecked(const Expr& expr, const ScopePtr& scope) {
  switch (expr.kind) {
    case Expr::Kind::kLiteral:
      return static_cast<const LiteralExpr&>(expr).value;
    case Expr::Kind::kName:
      return Lookup(static_cast<const NameExpr&>(expr).name, scope);
    case Expr::Kind::kList:
    case Expr::Kind::kTuple: {
      std::vector<Value> items;
      for (const auto& item : static_cast<const SequenceExpr&>(expr).items) {
        items.push_back(Eval(*item, scope));
      }
      return expr.kind == Expr::Kind::kList ? Value::List(std::move(items))
                                            : Value::Tuple(std::move(items));
    }
    case Expr::Kind::kDict: {
      auto dict = std::make_shared<DictData>();
      for (const auto& [key_expr, value_expr] : static_cast<const DictExpr&>(expr).items) {
        Value key = Eval(*key_expr, scope);
        if ((key.is_list() && !key.AsList().is_tuple) || key.is_dict()) {
          throw EvalError("unhashable type: '" + TypeName(key) + "'");
        }
        dict->Set(std::move(key), Eval(*value_expr, scope));
      }
      return Value::Dict(std::move(dict));
    }
    case Expr::Kind::kGetAttr: {
      const auto& node = static_cast<const GetAttrExpr&>(expr);
      return GetAttr(Eval(*node.object, scope), node.name);
    }
    case Expr::Kind::kGetItem: {
      const auto& node = static_cast<const GetItemExpr&>(expr);
      Value object = Eval(*node.object, scope);
      return GetItem(object, Eval(*node.key, scope));
    }
    case Expr::Kind::kSlice: {
      const auto& node = static_cast<const SliceExpr&>(expr);
      Value object = Eval(*node.object, scope);
      Value start = node.start ? Eval(*node.start, scope) : Value::None();
      Value stop = node.stop ? Eval(*node.stop, scope) : Value::None();
      Value step = node.step ? Eval(*node.step, scope) : Value::None();
      return Slice(object, start, stop, step);
    }
    case Expr::Kind::kCall:
      return EvalCall(static_cast<const CallExpr&>(expr), scope, nullptr);
    case Expr::Kind::kFilter:
      return EvalFilter(static_cast<const FilterExpr&>(expr), scope, nullptr);
    case Expr::Kind::kTest: {
      const auto& node = static_cast<const TestExpr&>(expr);
      Value operand = Eval(*node.operand, scope);
      CallArgs args = EvalArgs(node.args, scope);
      if (node.fn == nullptr) throw EvalError(UnknownBuiltinMessage(node.name, false, true));
      return Value::Bool(node.fn(operand, args));
    }
    case Expr::Kind::kNegate:
      return Negate(Eval(*static_cast<const UnaryExpr&>(expr).operand, scope));
    case Expr::Kind::kPositive:
      return Positive(Eval(*static_cast<const UnaryExpr&>(expr).operand, scope));
    case Expr::Kind::kNot:
      return Value::Bool(!Truthy(Eval(*static_cast<const UnaryExpr&>(expr).operand, scope)));
    case Expr::Kind::kBinary: {
      const auto& node = static_cast<const BinaryExpr&>(expr);
      Value left = Eval(*node.left, scope);
      Value right = Eval(*node.right, scope);
      return BinaryOperation(node.op, left, right);
    }
    case Expr::Kind::kAnd: {
      const auto& node = static_cast<const BinaryExpr&>(expr);
      Value left = Eval(*node.left, scope);
      return Truthy(left) ? Eval(*node.right, scope) : left;
    }
    case Expr::Kind::kOr: {
      const auto& node = static_cast<const BinaryExpr&>(expr);
      Value left = Eval(*node.left, scope);
      return Truthy(left) ? left : Eval(*node.right, scope);
    }
    case Expr::Kind::kConcat: {
      std::string out;
      for (const auto& part : static_cast<const ConcatExpr&>(expr).parts) {
        out += ToStr(Eval(*part, scope));
      }
      return Value::String(std::move(out));
    }
    case Expr::Kind::kCompare:
      return Value::Bool(EvalCompare(static_cast<const CompareExpr&>(expr), scope));
    case Expr::Kind::kCondExpr: {
      const auto& node = static_cast<const CondExpr&>(expr);
      if (Truthy(Eval(*node.test, scope))) return Eval(*node.then_expr, scope);
      if (node.else_expr) return Eval(*node.else_expr, scope);
      return Value::Undefined("the inline if-expression on line " + std::to_string(expr.pos.line) +
                              " evaluated to false and no else section was defined.");
    }
    case Expr::Kind::kNamespaceRef: {
      const auto& node = static_cast<const NamespaceRefExpr&>(expr);
      return GetAttr(Lookup(node.name, scope), node.attr);
    }
  }
  return Value::None();
}

Value Interpreter::MakeMacro(const MacroDef& def, const ScopePtr& scope) {
  const MacroDef* definition = &def;
  // The macro usually lives in the scope it closes over; holding that scope weakly (and
  // keeping it alive from here until the render ends) avoids a reference cycle.
  kept_scopes_.push_back(scope);
  std::weak_ptr<Scope> weak_scope = scope;
  return Value::Function(
      def.name,
      [this, definition, weak_scope](const CallArgs& args) {
        ScopePtr closure = weak_scope.lock();
        if (!closure) throw EvalError("macro '" + definition->name + "' outlived its template");
        return CallMacro(*definition, closure, args);
      },
      "<Macro '" + def.name + "'>");
}

Value Interpreter::CallMacro(const MacroDef& def, const ScopePtr& scope, const CallArgs& args) {
  if (depth_ >= kMaxDepth) throw EvalError("maximum recursion depth exceeded in macro calls");
  auto local = std::make_shared<Scope>(scope);
  const size_t n = def.params.size();
  const size_t given = std::min(n, args.positional.size());
  if (args.positional.size() > n && !def.uses_varargs) {
    throw EvalError("macro '" + def.name + "' takes not more than " + std::to_string(n) +
                    " argument(s)");
  }
  std::vector<bool> bound(n, false);
  for (size_t i = 0; i < given; ++i) {
    local->Set(def.params[i], args.positional[i]);
    bound[i] = true;
  }
  auto kwargs = std::make_shared<DictData>();
  Value caller;
  bool has_caller = false;
  for (const auto& [key, value] : args.keyword) {
    size_t i = given;
    while (i < n && def.params[i] != key) ++i;
    if (i < n) {
      local->Set(key, value);
      bound[i] = true;
    } else if (key == "caller" && def.uses_caller) {
      caller = value;
      has_caller = true;
    } else if (def.uses_kwargs) {
      kwargs->Set(Value::String(key), value);
    } else if (key == "caller") {
      throw EvalError("macro '" + def.name +
                      "' was invoked with two values for the special caller argument. This is "
                      "most likely a bug.");
    } else {
      throw EvalError("macro '" + def.name + "' takes no keyword argument '" + key + "'");
    }
  }
  ++depth_;
  try {
    const size_t first_default = n - def.defaults.size();
    for (size_t i = 0; i < n; ++i) {
      if (bound[i]) continue;
      if (i >= first_default) {
        local->Set(def.params[i], Eval(*def.defaults[i - first_default], local));
      } else {
        local->Set(def.params[i],
                   Value::Undefined("parameter '" + def.params[i] + "' was not provided"));
      }
    }
    if (def.uses_caller) {
      local->Set("caller", has_caller ? caller : Value::Undefined("No caller defined"));
    }
    if (def.uses_kwargs) local->Set("kwargs", Value::Dict(kwargs));
    if (def.uses_varargs) {
      std::vector<Value> extra;
      for (size_t i = n; i < args.positional.size(); ++i) extra.push_back(args.positional[i]);
      local->Set("varargs", Value::Tuple(std::move(extra)));
    }
    std::string text = Capture(def.body, local, nullptr);
    --depth_;
    return Value::String(std::move(text));
  } catch (...) {
    --depth_;
    throw;
  }
}

}  // namespace modelgrow::jinja
