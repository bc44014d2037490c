// Builds the syntax tree from tokens with jinja2's grammar and operator precedence.
#pragma once

#include <string>
#include <vector>

#include "common/jinja_ast.h"
#include "common/jinja_lexer.h"

namespace modelgrow::jinja {

// Statements: if/elif/else, for (with else, `if` filtering, recursive, tuple targets), set
// (expression, namespace attribute and block forms), macro, call, filter, with, print, raw,
// break/continue (jinja2's loopcontrols) and generation (transformers' AssistantTracker).
// Template inheritance and loading (extends, block, include, import, from) and autoescape
// blocks are rejected with a TemplateError, since a chat template is rendered on its own.
//
// Throws TemplateError (kSyntax) with the position of the offending token. An unknown filter or
// test is an error here, except inside an `if` or a conditional expression, where jinja2 only
// fails if the expression is evaluated.
Body Parse(const std::vector<Token>& tokens, const std::string& source_name);

}  // namespace modelgrow::jinja
