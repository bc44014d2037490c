// Errors raised while parsing or rendering a Jinja template.
#pragma once

#include <stdexcept>
#include <string>

namespace modelgrow::jinja {

enum class ErrorKind {
  kSyntax,  // the template text cannot be parsed (or uses something this interpreter lacks)
  kRender,  // an operation failed while rendering (a type error, an undefined value used, ...)
  kRaised,  // the template called raise_exception(message)
};

// Every error the interpreter reports. what() reads "<source>:<line>:<column>: <message>";
// message() is the bare message, which for kRaised is exactly what the template passed to
// raise_exception (transformers surfaces that text to users, so callers may want it alone).
class TemplateError : public std::runtime_error {
 public:
  TemplateError(ErrorKind kind, std::string source_name, int line, int column, std::string message);

  ErrorKind kind() const { return kind_; }
  const std::string& source_name() const { return source_name_; }
  // 1-based; column counts Unicode code points from the start of the line.
  int line() const { return line_; }
  int column() const { return column_; }
  const std::string& message() const { return message_; }

 private:
  ErrorKind kind_;
  std::string source_name_;
  int line_;
  int column_;
  std::string message_;
};

// Thrown by value operations (arithmetic, filters, methods), which do not know where in the
// template they run; the interpreter rethrows it as a TemplateError at the expression it was
// evaluating.
class EvalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown by raise_exception(); the interpreter rethrows it as a kRaised TemplateError.
class RaisedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace modelgrow::jinja
