#include "common/jinja_error.h"

#include <utility>

namespace modelgrow::jinja {

namespace {

std::string Describe(const std::string& source_name, int line, int column,
                     const std::string& message) {
  return source_name + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

}  // namespace

TemplateError::TemplateError(ErrorKind kind, std::string source_name, int line, int column,
                             std::string message)
    : std::runtime_error(Describe(source_name, line, column, message)),
      kind_(kind),
      source_name_(std::move(source_name)),
      line_(line),
      column_(column),
      message_(std::move(message)) {}

}  // namespace modelgrow::jinja
