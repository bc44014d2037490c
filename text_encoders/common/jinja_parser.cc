#include "common/jinja_parser.h"

#include <initializer_list>
#include <optional>
#include <set>
#include <string>

#include "common/jinja_builtins.h"
#include "common/jinja_error.h"

namespace modelgrow::jinja {

namespace {

using EndTags = std::vector<std::string>;

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const std::string& source_name)
      : tokens_(tokens), name_(source_name) {}

  Body ParseTemplate() {
    Body body = Subparse(nullptr);
    if (Current().type != TokenType::kEof) Fail("unexpected " + Describe(Current()));
    // An unknown filter or test outside any `if` fails the whole template, as jinja2 fails
    // when compiling it.
    for (const Unresolved& u : unresolved_) {
      if (!u.soft) {
        throw TemplateError(ErrorKind::kSyntax, name_, u.pos.line, u.pos.column,
                            UnknownBuiltinMessage(u.name, u.is_filter, false));
      }
    }
    return body;
  }

 private:
  struct Unresolved {
    std::string name;
    bool is_filter;
    SourcePos pos;
    bool soft;
  };

  // --- token stream -------------------------------------------------------------------------

  const Token& Current() const { return tokens_[index_]; }
  const Token& Look() const { return tokens_[std::min(index_ + 1, tokens_.size() - 1)]; }
  const Token& Next() {
    const Token& t = tokens_[index_];
    if (index_ + 1 < tokens_.size()) ++index_;
    return t;
  }
  static SourcePos Pos(const Token& t) { return SourcePos{t.line, t.column}; }

  static bool IsName(const Token& t, std::string_view name) {
    return t.type == TokenType::kName && t.text == name;
  }
  static bool IsOp(const Token& t, std::string_view op) {
    return t.type == TokenType::kOperator && t.text == op;
  }
  bool SkipName(std::string_view name) {
    if (!IsName(Current(), name)) return false;
    Next();
    return true;
  }
  bool SkipOp(std::string_view op) {
    if (!IsOp(Current(), op)) return false;
    Next();
    return true;
  }

  static std::string Describe(const Token& t) {
    if (t.type == TokenType::kName || t.type == TokenType::kOperator) return "'" + t.text + "'";
    return "'" + DescribeToken(t) + "'";
  }

  [[noreturn]] void Fail(const std::string& message) { FailAt(Current(), message); }
  [[noreturn]] void FailAt(const Token& t, const std::string& message) {
    throw TemplateError(ErrorKind::kSyntax, name_, t.line, t.column, message);
  }

  void ExpectFailed(const std::string& expected) {
    if (Current().type == TokenType::kEof) {
      Fail("unexpected end of template, expected '" + expected + "'.");
    }
    Fail("expected token '" + expected + "', got " + Describe(Current()));
  }
  const Token& ExpectOp(std::string_view op) {
    if (!IsOp(Current(), op)) ExpectFailed(std::string(op));
    return Next();
  }
  const Token& ExpectName(std::string_view name) {
    if (!IsName(Current(), name)) ExpectFailed(std::string(name));
    return Next();
  }
  const Token& ExpectAnyName() {
    if (Current().type != TokenType::kName) ExpectFailed("name");
    return Next();
  }
  const Token& Expect(TokenType type) {
    if (Current().type != type) {
      Token shown;
      shown.type = type;
      ExpectFailed(DescribeToken(shown));
    }
    return Next();
  }

  // --- statements ---------------------------------------------------------------------------

  Body Subparse(const EndTags* end_tags) {
    Body body;
    if (end_tags) end_stack_.push_back(*end_tags);
    while (Current().type != TokenType::kEof) {
      const Token& token = Current();
      if (token.type == TokenType::kData) {
        if (!token.text.empty()) body.push_back(std::make_unique<TextStmt>(Pos(token), token.text));
        Next();
      } else if (token.type == TokenType::kVariableBegin) {
        Next();
        ExprPtr expr = ParseTuple(false, true, {}, false, false);
        Expect(TokenType::kVariableEnd);
        body.push_back(std::make_unique<PrintStmt>(expr->pos, std::move(expr)));
      } else if (token.type == TokenType::kBlockBegin) {
        Next();
        if (end_tags && Current().type == TokenType::kName) {
          for (const std::string& tag : *end_tags) {
            if (Current().text == tag) {
              end_stack_.pop_back();
              return body;
            }
          }
        }
        ParseStatement(body);
        Expect(TokenType::kBlockEnd);
      } else {
        Fail("unexpected " + Describe(token));
      }
    }
    if (end_tags) end_stack_.pop_back();
    return body;
  }

  // Parses the body after a statement's opening tag, up to one of `end_tags`; leaves the end
  // tag's name as the current token unless drop_needle.
  Body ParseStatements(const EndTags& end_tags, bool drop_needle) {
    SkipOp(":");
    Expect(TokenType::kBlockEnd);
    Body body = Subparse(&end_tags);
    if (Current().type == TokenType::kEof) FailEof(&end_tags);
    if (drop_needle) Next();
    return body;
  }

  static std::string JoinQuoted(const EndTags& tags) {
    std::string out;
    for (size_t i = 0; i < tags.size(); ++i) {
      if (i > 0) out += " or ";
      out += "'" + tags[i] + "'";
    }
    return out;
  }

  // jinja2's _fail_ut_eof: what was expected, and the innermost open block.
  [[noreturn]] void FailUnexpectedTag(const std::string* unknown_tag, const EndTags* extra) {
    std::vector<EndTags> stack = end_stack_;
    if (extra) stack.push_back(*extra);
    std::set<std::string> expected;
    for (const auto& tags : stack) expected.insert(tags.begin(), tags.end());
    std::string message = unknown_tag ? "Encountered unknown tag '" + *unknown_tag + "'."
                                      : std::string("Unexpected end of template.");
    if (!stack.empty()) {
      std::string looking = JoinQuoted(stack.back());
      if (unknown_tag && expected.count(*unknown_tag)) {
        message +=
            " You probably made a nesting mistake. Jinja is expecting this tag, but "
            "currently looking for " +
            looking + ".";
      } else {
        message += " Jinja was looking for the following tags: " + looking + ".";
      }
    }
    if (!tag_stack_.empty()) {
      message += " The innermost block that needs to be closed is '" + tag_stack_.back() + "'.";
    }
    Fail(message);
  }
  [[noreturn]] void FailEof(const EndTags* end_tags) { FailUnexpectedTag(nullptr, end_tags); }

  void ParseStatement(Body& body) {
    const Token& token = Current();
    if (token.type != TokenType::kName) Fail("tag name expected");
    const std::string tag = token.text;
    static const std::set<std::string> kUnsupported = {"extends", "block", "include",
                                                       "import",  "from",  "autoescape"};
    if (kUnsupported.count(tag)) {
      Fail("'" + tag +
           "' is not supported: chat templates are rendered on their own, without template "
           "loading, inheritance or autoescaping");
    }
    tag_stack_.push_back(tag);
    if (tag == "for") {
      body.push_back(ParseFor());
    } else if (tag == "if") {
      body.push_back(ParseIf());
    } else if (tag == "set") {
      body.push_back(ParseSet());
    } else if (tag == "macro") {
      body.push_back(ParseMacro());
    } else if (tag == "call") {
      body.push_back(ParseCallBlock());
    } else if (tag == "filter") {
      body.push_back(ParseFilterBlock());
    } else if (tag == "with") {
      body.push_back(ParseWith());
    } else if (tag == "print") {
      body.push_back(ParsePrint());
    } else if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) {
        Fail(tag == "break" ? "'break' outside loop" : "'continue' not properly in loop");
      }
      Next();
      body.push_back(std::make_unique<SimpleStmt>(
          tag == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue, Pos(token)));
    } else if (tag == "generation") {
      body.push_back(ParseGeneration());
    } else {
      tag_stack_.pop_back();
      FailUnexpectedTag(&tag, nullptr);
    }
    tag_stack_.pop_back();
  }

  // Runs `parse` with the soft flag and loop depth a new jinja2 frame would have.
  template <typename F>
  auto InFrame(bool soft, int loop_depth, F parse) {
    bool saved_soft = soft_;
    int saved_depth = loop_depth_;
    soft_ = soft;
    loop_depth_ = loop_depth;
    auto result = parse();
    soft_ = saved_soft;
    loop_depth_ = saved_depth;
    return result;
  }

  StmtPtr ParseFor() {
    auto node = std::make_unique<ForStmt>(Pos(Next()));
    node->target = ParseAssignTarget(true, false, {"in"}, false);
    ExpectName("in");
    node->iter = ParseTuple(false, false, {"recursive"}, false, false);
    if (SkipName("if")) {
      node->filter = InFrame(false, loop_depth_, [&] { return ParseExpression(true); });
    }
    node->recursive = SkipName("recursive");
    node->body = InFrame(false, loop_depth_ + 1, [&] {
      return ParseStatements({"endfor", "else"}, false);
    });
    if (Next().text != "endfor") {
      node->else_body =
          InFrame(false, loop_depth_, [&] { return ParseStatements({"endfor"}, true); });
    }
    return node;
  }

  StmtPtr ParseIf() {
    auto node = std::make_unique<IfStmt>(Pos(Next()));
    bool saved_soft = soft_;
    soft_ = true;
    while (true) {
      ExprPtr test = ParseTuple(false, false, {}, false, false);
      Body body = ParseStatements({"elif", "else", "endif"}, false);
      node->branches.emplace_back(std::move(test), std::move(body));
      const Token& token = Next();
      if (token.text == "elif") continue;
      if (token.text == "else") node->else_body = ParseStatements({"endif"}, true);
      break;
    }
    soft_ = saved_soft;
    return node;
  }

  StmtPtr ParseSet() {
    SourcePos pos = Pos(Next());
    ExprPtr target = ParseAssignTarget(true, false, {}, true);
    if (SkipOp("=")) {
      auto node = std::make_unique<SetStmt>(pos);
      node->target = std::move(target);
      node->value = ParseTuple(false, true, {}, false, false);
      return node;
    }
    auto node = std::make_unique<SetBlockStmt>(pos);
    node->target = std::move(target);
    node->filter = ParseFilter(nullptr, false);
    node->body = InFrame(false, loop_depth_, [&] { return ParseStatements({"endset"}, true); });
    return node;
  }

  void ParseSignature(MacroDef& def) {
    ExpectOp("(");
    while (!IsOp(Current(), ")")) {
      if (!def.params.empty()) ExpectOp(",");
      const Token& name = ExpectAnyName();
      def.params.push_back(name.text);
      if (SkipOp("=")) {
        def.defaults.push_back(ParseExpression(true));
      } else if (!def.defaults.empty()) {
        FailAt(name, "non-default argument follows default argument");
      }
    }
    ExpectOp(")");
  }

  // Parses a macro-like body, noting whether it reads varargs, kwargs or caller (jinja2 only
  // accepts extra arguments when the body uses them).
  void ParseMacroBody(MacroDef& def, const std::string& end_tag) {
    std::set<std::string> used;
    usage_.push_back(&used);
    def.body = InFrame(false, 0, [&] { return ParseStatements({end_tag}, true); });
    usage_.pop_back();
    auto declared = [&def](const char* n) {
      for (const auto& p : def.params) {
        if (p == n) return true;
      }
      return false;
    };
    def.uses_varargs = used.count("varargs") && !declared("varargs");
    def.uses_kwargs = used.count("kwargs") && !declared("kwargs");
    def.uses_caller = used.count("caller") && !declared("caller");
  }

  StmtPtr ParseMacro() {
    auto node = std::make_unique<MacroStmt>(Pos(Next()));
    node->def.name = ExpectAnyName().text;
    ParseSignature(node->def);
    ParseMacroBody(node->def, "endmacro");
    return node;
  }

  StmtPtr ParseCallBlock() {
    const Token& start = Next();
    auto node = std::make_unique<CallBlockStmt>(Pos(start));
    node->caller.name = "caller";
    if (IsOp(Current(), "(")) ParseSignature(node->caller);
    ExprPtr call = ParseExpression(true);
    if (call->kind != Expr::Kind::kCall) FailAt(start, "expected call");
    node->call.reset(static_cast<CallExpr*>(call.release()));
    ParseMacroBody(node->caller, "endcall");
    return node;
  }

  StmtPtr ParseFilterBlock() {
    auto node = std::make_unique<FilterBlockStmt>(Pos(Next()));
    node->filter = ParseFilter(nullptr, true);
    node->body = InFrame(false, loop_depth_, [&] { return ParseStatements({"endfilter"}, true); });
    return node;
  }

  StmtPtr ParseWith() {
    auto node = std::make_unique<WithStmt>(Pos(Next()));
    while (Current().type != TokenType::kBlockEnd) {
      if (!node->targets.empty()) ExpectOp(",");
      node->targets.push_back(ParseAssignTarget(true, false, {}, false));
      ExpectOp("=");
      node->values.push_back(ParseExpression(true));
    }
    node->body = InFrame(false, loop_depth_, [&] { return ParseStatements({"endwith"}, true); });
    return node;
  }

  StmtPtr ParsePrint() {
    SourcePos pos = Pos(Next());
    auto concat = std::make_unique<ConcatExpr>(pos);
    while (Current().type != TokenType::kBlockEnd) {
      if (!concat->parts.empty()) ExpectOp(",");
      concat->parts.push_back(ParseExpression(true));
    }
    return std::make_unique<PrintStmt>(pos, std::move(concat));
  }

  StmtPtr ParseGeneration() {
    auto node = std::make_unique<GenerationStmt>(Pos(Next()));
    node->body = InFrame(false, 0, [&] { return ParseStatements({"endgeneration"}, true); });
    return node;
  }

  // --- assignment targets -------------------------------------------------------------------

  ExprPtr ParseAssignTarget(bool with_tuple, bool name_only, const EndTags& extra_end,
                            bool with_namespace) {
    ExprPtr target;
    if (name_only) {
      const Token& t = ExpectAnyName();
      return std::make_unique<NameExpr>(Pos(t), t.text);
    }
    const Token& first = Current();
    if (with_tuple) {
      target = ParseTuple(true, true, extra_end, false, with_namespace);
    } else {
      target = ParsePrimary(with_namespace);
    }
    CheckAssignable(*target, first);
    return target;
  }

  void CheckAssignable(const Expr& target, const Token& at) {
    switch (target.kind) {
      case Expr::Kind::kName:
      case Expr::Kind::kNamespaceRef:
        return;
      case Expr::Kind::kTuple:
        for (const auto& item : static_cast<const SequenceExpr&>(target).items) {
          CheckAssignable(*item, at);
        }
        return;
      case Expr::Kind::kLiteral:
        FailAt(at, "can't assign to 'const'");
      default:
        FailAt(at, "can't assign to this expression");
    }
  }

  // --- expressions --------------------------------------------------------------------------

  bool IsTupleEnd(const EndTags& extra_end) const {
    const Token& t = Current();
    if (t.type == TokenType::kVariableEnd || t.type == TokenType::kBlockEnd || IsOp(t, ")")) {
      return true;
    }
    for (const std::string& name : extra_end) {
      if (IsName(t, name)) return true;
    }
    return false;
  }

  ExprPtr ParseTuple(bool simplified, bool with_condexpr, const EndTags& extra_end,
                     bool explicit_parentheses, bool with_namespace) {
    SourcePos pos = Pos(Current());
    std::vector<ExprPtr> args;
    bool is_tuple = false;
    while (true) {
      if (!args.empty()) ExpectOp(",");
      if (IsTupleEnd(extra_end)) break;
      args.push_back(simplified ? ParsePrimary(with_namespace) : ParseExpression(with_condexpr));
      if (IsOp(Current(), ",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!args.empty()) return std::move(args[0]);
      if (!explicit_parentheses) Fail("Expected an expression, got " + Describe(Current()));
    }
    auto tuple = std::make_unique<SequenceExpr>(Expr::Kind::kTuple, pos);
    tuple->items = std::move(args);
    return tuple;
  }

  ExprPtr ParseExpression(bool with_condexpr) {
    return with_condexpr ? ParseCondExpr() : ParseOr();
  }

  ExprPtr ParseCondExpr() {
    SourcePos pos = Pos(Current());
    size_t unresolved_before = unresolved_.size();
    ExprPtr expr1 = ParseOr();
    while (IsName(Current(), "if")) {
      // The whole conditional expression is a soft frame in jinja2, including the value part
      // parsed before the `if` was seen.
      for (size_t i = unresolved_before; i < unresolved_.size(); ++i) unresolved_[i].soft = true;
      Next();
      bool saved_soft = soft_;
      soft_ = true;
      auto node = std::make_unique<CondExpr>(pos);
      node->test = ParseOr();
      if (SkipName("else")) node->else_expr = ParseCondExpr();
      soft_ = saved_soft;
      node->then_expr = std::move(expr1);
      expr1 = std::move(node);
      pos = Pos(Current());
    }
    return expr1;
  }

  ExprPtr ParseOr() {
    ExprPtr left = ParseAnd();
    while (IsName(Current(), "or")) {
      SourcePos pos = Pos(Next());
      ExprPtr right = ParseAnd();
      left = std::make_unique<BinaryExpr>(Expr::Kind::kOr, pos, std::move(left), std::move(right));
    }
    return left;
  }

  ExprPtr ParseAnd() {
    ExprPtr left = ParseNot();
    while (IsName(Current(), "and")) {
      SourcePos pos = Pos(Next());
      ExprPtr right = ParseNot();
      left = std::make_unique<BinaryExpr>(Expr::Kind::kAnd, pos, std::move(left), std::move(right));
    }
    return left;
  }

  ExprPtr ParseNot() {
    if (IsName(Current(), "not")) {
      SourcePos pos = Pos(Next());
      return std::make_unique<UnaryExpr>(Expr::Kind::kNot, pos, ParseNot());
    }
    return ParseCompare();
  }

  ExprPtr ParseCompare() {
    SourcePos pos = Pos(Current());
    ExprPtr expr = ParseMath1();
    std::vector<std::pair<CompareOp, ExprPtr>> ops;
    while (true) {
      const Token& t = Current();
      std::optional<CompareOp> op;
      if (t.type == TokenType::kOperator) {
        if (t.text == "==") op = CompareOp::kEq;
        if (t.text == "!=") op = CompareOp::kNe;
        if (t.text == "<") op = CompareOp::kLt;
        if (t.text == "<=") op = CompareOp::kLe;
        if (t.text == ">") op = CompareOp::kGt;
        if (t.text == ">=") op = CompareOp::kGe;
      }
      if (op) {
        if (ops.empty()) pos = Pos(t);
        Next();
      } else if (IsName(t, "in")) {
        if (ops.empty()) pos = Pos(t);
        Next();
        op = CompareOp::kIn;
      } else if (IsName(t, "not") && IsName(Look(), "in")) {
        if (ops.empty()) pos = Pos(t);
        Next();
        Next();
        op = CompareOp::kNotIn;
      } else {
        break;
      }
      ops.emplace_back(*op, ParseMath1());
    }
    if (ops.empty()) return expr;
    auto node = std::make_unique<CompareExpr>(pos);
    node->first = std::move(expr);
    node->rest = std::move(ops);
    return node;
  }

  ExprPtr MakeBinary(BinaryOp op, SourcePos pos, ExprPtr left, ExprPtr right) {
    auto node =
        std::make_unique<BinaryExpr>(Expr::Kind::kBinary, pos, std::move(left), std::move(right));
    node->op = op;
    return node;
  }

  ExprPtr ParseMath1() {
    ExprPtr left = ParseConcat();
    while (IsOp(Current(), "+") || IsOp(Current(), "-")) {
      const Token& t = Next();
      BinaryOp op = t.text == "+" ? BinaryOp::kAdd : BinaryOp::kSub;
      left = MakeBinary(op, Pos(t), std::move(left), ParseConcat());
    }
    return left;
  }

  ExprPtr ParseConcat() {
    ExprPtr first = ParseMath2();
    if (!IsOp(Current(), "~")) return first;
    auto node = std::make_unique<ConcatExpr>(Pos(Current()));
    node->parts.push_back(std::move(first));
    while (SkipOp("~")) node->parts.push_back(ParseMath2());
    return node;
  }

  ExprPtr ParseMath2() {
    ExprPtr left = ParsePow();
    while (true) {
      const Token& t = Current();
      BinaryOp op;
      if (IsOp(t, "*")) {
        op = BinaryOp::kMul;
      } else if (IsOp(t, "/")) {
        op = BinaryOp::kDiv;
      } else if (IsOp(t, "//")) {
        op = BinaryOp::kFloorDiv;
      } else if (IsOp(t, "%")) {
        op = BinaryOp::kMod;
      } else {
        break;
      }
      Next();
      left = MakeBinary(op, Pos(t), std::move(left), ParsePow());
    }
    return left;
  }

  ExprPtr ParsePow() {
    ExprPtr left = ParseUnary(true);
    while (IsOp(Current(), "**")) {
      const Token& t = Next();
      left = MakeBinary(BinaryOp::kPow, Pos(t), std::move(left), ParseUnary(true));
    }
    return left;
  }

  ExprPtr ParseUnary(bool with_filter) {
    const Token& t = Current();
    ExprPtr node;
    if (IsOp(t, "-")) {
      Next();
      node = std::make_unique<UnaryExpr>(Expr::Kind::kNegate, Pos(t), ParseUnary(false));
    } else if (IsOp(t, "+")) {
      Next();
      node = std::make_unique<UnaryExpr>(Expr::Kind::kPositive, Pos(t), ParseUnary(false));
    } else {
      node = ParsePrimary(false);
    }
    node = ParsePostfix(std::move(node));
    if (with_filter) node = ParseFilterExpr(std::move(node));
    return node;
  }

  ExprPtr ParsePrimary(bool with_namespace) {
    const Token& t = Current();
    SourcePos pos = Pos(t);
    switch (t.type) {
      case TokenType::kName: {
        Next();
        if (t.text == "true" || t.text == "True")
          return std::make_unique<LiteralExpr>(pos, Value::Bool(true));
        if (t.text == "false" || t.text == "False") {
          return std::make_unique<LiteralExpr>(pos, Value::Bool(false));
        }
        if (t.text == "none" || t.text == "None")
          return std::make_unique<LiteralExpr>(pos, Value::None());
        if (with_namespace && IsOp(Current(), ".")) {
          Next();
          const Token& attr = ExpectAnyName();
          return std::make_unique<NamespaceRefExpr>(pos, t.text, attr.text);
        }
        for (auto* used : usage_) used->insert(t.text);
        return std::make_unique<NameExpr>(pos, t.text);
      }
      case TokenType::kString: {
        std::string text;
        while (Current().type == TokenType::kString) text += Next().text;
        return std::make_unique<LiteralExpr>(pos, Value::String(std::move(text)));
      }
      case TokenType::kInteger:
        Next();
        return std::make_unique<LiteralExpr>(pos, Value::Int(t.int_value));
      case TokenType::kFloat:
        Next();
        return std::make_unique<LiteralExpr>(pos, Value::Float(t.float_value));
      default:
        break;
    }
    if (IsOp(t, "(")) {
      Next();
      ExprPtr node = ParseTuple(false, true, {}, true, false);
      ExpectOp(")");
      return node;
    }
    if (IsOp(t, "[")) return ParseList();
    if (IsOp(t, "{")) return ParseDict();
    Fail("unexpected " + Describe(t));
  }

  ExprPtr ParseList() {
    auto node = std::make_unique<SequenceExpr>(Expr::Kind::kList, Pos(ExpectOp("[")));
    while (!IsOp(Current(), "]")) {
      if (!node->items.empty()) ExpectOp(",");
      if (IsOp(Current(), "]")) break;
      node->items.push_back(ParseExpression(true));
    }
    ExpectOp("]");
    return node;
  }

  ExprPtr ParseDict() {
    auto node = std::make_unique<DictExpr>(Pos(ExpectOp("{")));
    while (!IsOp(Current(), "}")) {
      if (!node->items.empty()) ExpectOp(",");
      if (IsOp(Current(), "}")) break;
      ExprPtr key = ParseExpression(true);
      ExpectOp(":");
      ExprPtr value = ParseExpression(true);
      node->items.emplace_back(std::move(key), std::move(value));
    }
    ExpectOp("}");
    return node;
  }

  ExprPtr ParsePostfix(ExprPtr node) {
    while (true) {
      if (IsOp(Current(), ".") || IsOp(Current(), "[")) {
        node = ParseSubscript(std::move(node));
      } else if (IsOp(Current(), "(")) {
        node = ParseCall(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr ParseFilterExpr(ExprPtr node) {
    while (true) {
      if (IsOp(Current(), "|")) {
        node = ParseFilter(std::move(node), false);
      } else if (IsName(Current(), "is")) {
        node = ParseTest(std::move(node));
      } else if (IsOp(Current(), "(")) {
        node = ParseCall(std::move(node));
      } else {
        return node;
      }
    }
  }

  ExprPtr ParseSubscript(ExprPtr node) {
    const Token& t = Next();
    if (t.text == ".") {
      const Token& attr = Current();
      Next();
      if (attr.type == TokenType::kName) {
        return std::make_unique<GetAttrExpr>(Pos(attr), std::move(node), attr.text);
      }
      if (attr.type != TokenType::kInteger) FailAt(attr, "expected name or number");
      return std::make_unique<GetItemExpr>(
          Pos(attr), std::move(node),
          std::make_unique<LiteralExpr>(Pos(attr), Value::Int(attr.int_value)));
    }
    std::vector<ExprPtr> args;
    while (!IsOp(Current(), "]")) {
      if (!args.empty()) ExpectOp(",");
      args.push_back(ParseSubscribed());
    }
    ExpectOp("]");
    if (args.size() == 1 && args[0]->kind == Expr::Kind::kSlice) {
      auto* slice = static_cast<SliceExpr*>(args[0].get());
      slice->object = std::move(node);
      return std::move(args[0]);
    }
    ExprPtr key;
    if (args.size() == 1) {
      key = std::move(args[0]);
    } else {
      for (const auto& arg : args) {
        if (arg->kind == Expr::Kind::kSlice)
          FailAt(t, "multi-dimensional slices are not supported");
      }
      auto tuple = std::make_unique<SequenceExpr>(Expr::Kind::kTuple, Pos(t));
      tuple->items = std::move(args);
      key = std::move(tuple);
    }
    return std::make_unique<GetItemExpr>(Pos(t), std::move(node), std::move(key));
  }

  ExprPtr ParseSubscribed() {
    SourcePos pos = Pos(Current());
    auto slice = std::make_unique<SliceExpr>(pos);
    if (IsOp(Current(), ":")) {
      Next();
    } else {
      ExprPtr node = ParseExpression(true);
      if (!IsOp(Current(), ":")) return node;
      Next();
      slice->start = std::move(node);
    }
    if (!IsOp(Current(), ":") && !IsOp(Current(), "]") && !IsOp(Current(), ",")) {
      slice->stop = ParseExpression(true);
    }
    if (SkipOp(":")) {
      if (!IsOp(Current(), "]") && !IsOp(Current(), ",")) slice->step = ParseExpression(true);
    }
    return slice;
  }

  CallArgsExpr ParseCallArgs() {
    const Token& open = ExpectOp("(");
    CallArgsExpr args;
    bool require_comma = false;
    auto ensure = [&](bool ok) {
      if (!ok) FailAt(open, "invalid syntax for function call expression");
    };
    while (!IsOp(Current(), ")")) {
      if (require_comma) {
        ExpectOp(",");
        if (IsOp(Current(), ")")) break;
      }
      if (IsOp(Current(), "*")) {
        ensure(!args.star_args && !args.star_kwargs);
        Next();
        args.star_args = ParseExpression(true);
      } else if (IsOp(Current(), "**")) {
        ensure(!args.star_kwargs);
        Next();
        args.star_kwargs = ParseExpression(true);
      } else if (Current().type == TokenType::kName && IsOp(Look(), "=")) {
        ensure(!args.star_kwargs);
        const Token& key_token = Next();
        std::string key = key_token.text;
        for (const auto& existing : args.keyword) {
          if (existing.first == key) FailAt(key_token, "keyword argument repeated: " + key);
        }
        Next();
        args.keyword.emplace_back(std::move(key), ParseExpression(true));
      } else {
        ensure(!args.star_args && !args.star_kwargs && args.keyword.empty());
        args.positional.push_back(ParseExpression(true));
      }
      require_comma = true;
    }
    ExpectOp(")");
    return args;
  }

  ExprPtr ParseCall(ExprPtr callee) {
    auto node = std::make_unique<CallExpr>(Pos(Current()));
    node->callee = std::move(callee);
    node->args = ParseCallArgs();
    return node;
  }

  std::string DottedName() {
    std::string name = ExpectAnyName().text;
    while (IsOp(Current(), ".")) {
      Next();
      name += "." + ExpectAnyName().text;
    }
    return name;
  }

  ExprPtr ParseFilter(ExprPtr node, bool start_inline) {
    while (IsOp(Current(), "|") || start_inline) {
      if (!start_inline) Next();
      start_inline = false;
      const Token& name_token = Current();
      auto filter = std::make_unique<FilterExpr>(Pos(name_token));
      filter->name = DottedName();
      filter->fn = FindFilter(filter->name);
      if (!filter->fn) unresolved_.push_back({filter->name, true, filter->pos, soft_});
      if (IsOp(Current(), "(")) filter->args = ParseCallArgs();
      filter->input = std::move(node);
      node = std::move(filter);
    }
    return node;
  }

  ExprPtr ParseTest(ExprPtr node) {
    const Token& is_token = Next();
    bool negated = SkipName("not");
    auto test = std::make_unique<TestExpr>(Pos(is_token));
    SourcePos name_pos = Pos(Current());
    test->name = DottedName();
    test->fn = FindTest(test->name);
    if (!test->fn) unresolved_.push_back({test->name, false, name_pos, soft_});
    const Token& t = Current();
    if (IsOp(t, "(")) {
      test->args = ParseCallArgs();
    } else if ((t.type == TokenType::kName || t.type == TokenType::kString ||
                t.type == TokenType::kInteger || t.type == TokenType::kFloat || IsOp(t, "(") ||
                IsOp(t, "[") || IsOp(t, "{")) &&
               !IsName(t, "else") && !IsName(t, "or") && !IsName(t, "and")) {
      if (IsName(t, "is")) Fail("You cannot chain multiple tests with is");
      ExprPtr arg = ParsePostfix(ParsePrimary(false));
      test->args.positional.push_back(std::move(arg));
    }
    test->operand = std::move(node);
    if (negated)
      return std::make_unique<UnaryExpr>(Expr::Kind::kNot, Pos(is_token), std::move(test));
    return test;
  }

  const std::vector<Token>& tokens_;
  const std::string& name_;
  size_t index_ = 0;
  bool soft_ = false;
  int loop_depth_ = 0;
  std::vector<EndTags> end_stack_;
  std::vector<std::string> tag_stack_;
  std::vector<std::set<std::string>*> usage_;
  std::vector<Unresolved> unresolved_;
};

}  // namespace

Body Parse(const std::vector<Token>& tokens, const std::string& source_name) {
  Parser parser(tokens, source_name);
  return parser.ParseTemplate();
}

}  // namespace modelgrow::jinja
