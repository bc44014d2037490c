// Splits template text into tokens the way jinja2's lexer does, including its whitespace
// rules: `-` on a tag strips whitespace on that side, trim_blocks drops the newline after a
// block or comment tag, lstrip_blocks drops spaces and tabs before one at the start of a line,
// and a single trailing newline of the template is dropped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace modelgrow::jinja {

// The environment switches that change lexing. The defaults are what transformers sets for
// chat templates (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False).
struct LexerOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

enum class TokenType {
  kData,  // template text outside tags
  kVariableBegin,
  kVariableEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,  // text holds the decoded value
  kInteger,
  kFloat,
  kOperator,  // text holds the symbol: "+", "//", "==", "(", ...
  kEof,
};

struct Token {
  TokenType type = TokenType::kEof;
  std::string text;
  int64_t int_value = 0;
  double float_value = 0.0;
  int line = 1;
  int column = 1;  // 1-based, in code points
};

// Throws TemplateError (kSyntax) naming `source_name`, line and column for text it cannot
// split: an unterminated comment or string, an unknown character, unbalanced brackets.
std::vector<Token> Tokenize(std::string_view source, const std::string& source_name,
                            const LexerOptions& options);

// Describes a token for error messages the way jinja2 does ("end of print statement",
// "'endfor'", "end of template").
std::string DescribeToken(const Token& token);

}  // namespace modelgrow::jinja
