// Walks the syntax tree and writes the output, with jinja2's scoping: a for-loop iteration,
// a macro call, a with block and a set block each get a child scope whose assignments do not
// leak out; if blocks share their enclosing scope; namespace() objects are the way to carry
// values out of a loop.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/jinja_ast.h"
#include "common/jinja_builtins.h"
#include "common/jinja_value.h"

namespace modelgrow::jinja {

class Scope {
 public:
  explicit Scope(std::shared_ptr<Scope> parent) : parent_(std::move(parent)) {}
  // The innermost binding of `name` along the chain, or nullptr.
  const Value* Find(std::string_view name) const;
  void Set(const std::string& name, Value value);

 private:
  std::shared_ptr<Scope> parent_;
  std::vector<std::pair<std::string, Value>> vars_;
};

class Interpreter {
 public:
  Interpreter(const std::string& source_name, Clock clock);

  // Renders `body` with `globals` (the render context) as the outermost scope. Errors are
  // TemplateErrors carrying the position of the expression or statement that failed.
  std::string Render(const Body& body, std::shared_ptr<Scope> globals);

  // Byte ranges of the output that {% generation %} blocks produced, in output order.
  const std::vector<std::pair<size_t, size_t>>& generation_spans() const {
    return generation_spans_;
  }

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  using ScopePtr = std::shared_ptr<Scope>;

  Flow ExecBody(const Body& body, const ScopePtr& scope);
  Flow Exec(const Stmt& stmt, const ScopePtr& scope);
  Flow ExecFor(const ForStmt& node, const ScopePtr& scope);
  void RunLoop(const ForStmt& node, const ScopePtr& scope, const Value& iterable, int depth0);
  std::string Capture(const Body& body, const ScopePtr& scope, Flow* flow);
  void Assign(const Expr& target, const Value& value, const ScopePtr& scope);

  Value Eval(const Expr& expr, const ScopePtr& scope);
  Value EvalUnchecked(const Expr& expr, const ScopePtr& scope);
  Value EvalCall(const CallExpr& node, const ScopePtr& scope, const Value* caller);
  CallArgs EvalArgs(const CallArgsExpr& args, const ScopePtr& scope);
  Value EvalFilter(const FilterExpr& node, const ScopePtr& scope, const Value* block_input);
  bool EvalCompare(const CompareExpr& node, const ScopePtr& scope);
  Value Lookup(const std::string& name, const ScopePtr& scope);
  Value MakeMacro(const MacroDef& def, const ScopePtr& scope);
  Value CallMacro(const MacroDef& def, const ScopePtr& scope, const CallArgs& args);

  [[noreturn]] void Fail(SourcePos pos, const std::string& message);

  const std::string& source_name_;
  Clock clock_;
  std::string* out_ = nullptr;
  std::string* root_out_ = nullptr;
  int depth_ = 0;
  // Scopes that macros and recursive loops close over, alive until the render ends.
  std::vector<ScopePtr> kept_scopes_;
  std::vector<std::pair<size_t, size_t>> generation_spans_;
};

}  // namespace modelgrow::jinja
