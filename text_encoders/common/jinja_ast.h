// The syntax tree the parser builds and the interpreter walks. Node kinds follow jinja2's
// nodes module, restricted to what templates rendered without a loader can contain.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/jinja_ops.h"
#include "common/jinja_value.h"

namespace modelgrow::jinja {

struct SourcePos {
  int line = 0;
  int column = 0;
};

// Builtins resolved when parsing; null when the name is unknown and jinja2 would only fail if
// the expression ran (inside an `if` or a conditional expression).
using FilterFn = Value (*)(const Value& input, const CallArgs& args);
using TestFn = bool (*)(const Value& value, const CallArgs& args);

struct Expr {
  enum class Kind {
    kLiteral,
    kName,
    kList,
    kTuple,
    kDict,
    kGetAttr,
    kGetItem,
    kSlice,
    kCall,
    kFilter,
    kTest,
    kNegate,
    kPositive,
    kBinary,
    kConcat,
    kAnd,
    kOr,
    kNot,
    kCompare,
    kCondExpr,
    kNamespaceRef,  // `ns.attr` as an assignment target
  };
  Expr(Kind k, SourcePos p) : kind(k), pos(p) {}
  virtual ~Expr() = default;
  Kind kind;
  SourcePos pos;
};
using ExprPtr = std::unique_ptr<Expr>;

struct LiteralExpr : Expr {
  LiteralExpr(SourcePos p, Value v) : Expr(Kind::kLiteral, p), value(std::move(v)) {}
  Value value;
};

struct NameExpr : Expr {
  NameExpr(SourcePos p, std::string n) : Expr(Kind::kName, p), name(std::move(n)) {}
  std::string name;
};

struct NamespaceRefExpr : Expr {
  NamespaceRefExpr(SourcePos p, std::string n, std::string a)
      : Expr(Kind::kNamespaceRef, p), name(std::move(n)), attr(std::move(a)) {}
  std::string name;
  std::string attr;
};

// A list or tuple display.
struct SequenceExpr : Expr {
  SequenceExpr(Kind k, SourcePos p) : Expr(k, p) {}
  std::vector<ExprPtr> items;
};

struct DictExpr : Expr {
  explicit DictExpr(SourcePos p) : Expr(Kind::kDict, p) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

struct GetAttrExpr : Expr {
  GetAttrExpr(SourcePos p, ExprPtr o, std::string n)
      : Expr(Kind::kGetAttr, p), object(std::move(o)), name(std::move(n)) {}
  ExprPtr object;
  std::string name;
};

struct GetItemExpr : Expr {
  GetItemExpr(SourcePos p, ExprPtr o, ExprPtr k)
      : Expr(Kind::kGetItem, p), object(std::move(o)), key(std::move(k)) {}
  ExprPtr object;
  ExprPtr key;
};

// obj[start:stop:step]; absent parts are null.
struct SliceExpr : Expr {
  explicit SliceExpr(SourcePos p) : Expr(Kind::kSlice, p) {}
  ExprPtr object;
  ExprPtr start;
  ExprPtr stop;
  ExprPtr step;
};

struct CallArgsExpr {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
  ExprPtr star_args;    // *args
  ExprPtr star_kwargs;  // **kwargs
};

struct CallExpr : Expr {
  explicit CallExpr(SourcePos p) : Expr(Kind::kCall, p) {}
  ExprPtr callee;
  CallArgsExpr args;
};

struct FilterExpr : Expr {
  explicit FilterExpr(SourcePos p) : Expr(Kind::kFilter, p) {}
  ExprPtr input;  // null for the innermost filter of a filter block or set block
  std::string name;
  FilterFn fn = nullptr;
  CallArgsExpr args;
};

struct TestExpr : Expr {
  explicit TestExpr(SourcePos p) : Expr(Kind::kTest, p) {}
  ExprPtr operand;
  std::string name;
  TestFn fn = nullptr;
  CallArgsExpr args;
};

struct UnaryExpr : Expr {
  UnaryExpr(Kind k, SourcePos p, ExprPtr o) : Expr(k, p), operand(std::move(o)) {}
  ExprPtr operand;
};

struct BinaryExpr : Expr {
  BinaryExpr(Kind k, SourcePos p, ExprPtr l, ExprPtr r)
      : Expr(k, p), left(std::move(l)), right(std::move(r)) {}
  BinaryOp op = BinaryOp::kAdd;  // for kBinary
  ExprPtr left;
  ExprPtr right;
};

struct ConcatExpr : Expr {
  explicit ConcatExpr(SourcePos p) : Expr(Kind::kConcat, p) {}
  std::vector<ExprPtr> parts;
};

enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

// a op1 b op2 c: Python's chained comparison.
struct CompareExpr : Expr {
  explicit CompareExpr(SourcePos p) : Expr(Kind::kCompare, p) {}
  ExprPtr first;
  std::vector<std::pair<CompareOp, ExprPtr>> rest;
};

struct CondExpr : Expr {
  explicit CondExpr(SourcePos p) : Expr(Kind::kCondExpr, p) {}
  ExprPtr test;
  ExprPtr then_expr;
  ExprPtr else_expr;  // null: an Undefined when the test is false
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  enum class Kind {
    kText,
    kPrint,
    kIf,
    kFor,
    kSet,
    kSetBlock,
    kMacro,
    kCallBlock,
    kFilterBlock,
    kWith,
    kBreak,
    kContinue,
    kGeneration,
  };
  Stmt(Kind k, SourcePos p) : kind(k), pos(p) {}
  virtual ~Stmt() = default;
  Kind kind;
  SourcePos pos;
};

struct TextStmt : Stmt {
  TextStmt(SourcePos p, std::string t) : Stmt(Kind::kText, p), text(std::move(t)) {}
  std::string text;
};

struct PrintStmt : Stmt {
  PrintStmt(SourcePos p, ExprPtr e) : Stmt(Kind::kPrint, p), expr(std::move(e)) {}
  ExprPtr expr;
};

struct IfStmt : Stmt {
  explicit IfStmt(SourcePos p) : Stmt(Kind::kIf, p) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if, then each elif
  Body else_body;
};

struct ForStmt : Stmt {
  explicit ForStmt(SourcePos p) : Stmt(Kind::kFor, p) {}
  ExprPtr target;
  ExprPtr iter;
  ExprPtr filter;  // `for x in xs if cond`
  bool recursive = false;
  Body body;
  Body else_body;
};

struct SetStmt : Stmt {
  explicit SetStmt(SourcePos p) : Stmt(Kind::kSet, p) {}
  ExprPtr target;
  ExprPtr value;
};

struct SetBlockStmt : Stmt {
  explicit SetBlockStmt(SourcePos p) : Stmt(Kind::kSetBlock, p) {}
  ExprPtr target;
  ExprPtr filter;  // optional filter chain applied to the captured text
  Body body;
};

// What a macro's (or a call block's caller's) signature and body need at call time.
struct MacroDef {
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  bool uses_varargs = false;
  bool uses_kwargs = false;
  bool uses_caller = false;
  Body body;
};

struct MacroStmt : Stmt {
  explicit MacroStmt(SourcePos p) : Stmt(Kind::kMacro, p) {}
  MacroDef def;
};

struct CallBlockStmt : Stmt {
  explicit CallBlockStmt(SourcePos p) : Stmt(Kind::kCallBlock, p) {}
  std::unique_ptr<CallExpr> call;
  MacroDef caller;
};

struct FilterBlockStmt : Stmt {
  explicit FilterBlockStmt(SourcePos p) : Stmt(Kind::kFilterBlock, p) {}
  ExprPtr filter;
  Body body;
};

struct WithStmt : Stmt {
  explicit WithStmt(SourcePos p) : Stmt(Kind::kWith, p) {}
  std::vector<ExprPtr> targets;
  std::vector<ExprPtr> values;
  Body body;
};

// transformers' {% generation %} block: renders its body and records where that text landed.
struct GenerationStmt : Stmt {
  explicit GenerationStmt(SourcePos p) : Stmt(Kind::kGeneration, p) {}
  Body body;
};

struct SimpleStmt : Stmt {
  SimpleStmt(Kind k, SourcePos p) : Stmt(k, p) {}
};

}  // namespace modelgrow::jinja
