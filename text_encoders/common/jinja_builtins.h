// The builtin filters, tests and global functions of the environment transformers renders
// chat templates in: jinja2's defaults, transformers' tojson, raise_exception and strftime_now.
#pragma once

#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/jinja_ast.h"
#include "common/jinja_value.h"

namespace modelgrow::jinja {

// Filters: abs attr batch capitalize center count d default dictsort e escape first float
// forceescape format groupby indent int items join last length list lower map max min reject
// rejectattr replace reverse round safe select selectattr slice sort string striptags sum
// title tojson trim truncate unique upper wordcount.
// Returns null for an unknown name.
FilterFn FindFilter(std::string_view name);

// Tests: boolean callable defined divisibleby eq equalto even false filter float ge gt
// greaterthan in integer iterable le lessthan lower lt mapping ne none number odd sameas
// sequence string test true undefined upper, and == != < <= > >=.
TestFn FindTest(std::string_view name);

// jinja2 builtins this interpreter does not implement (filesizeformat, pprint, random,
// urlencode, urlize, wordwrap, xmlattr; the escaped test), so errors can say so rather than
// call them unknown.
bool IsUnsupportedJinjaBuiltin(std::string_view name);

// The error for a filter or test name with no builtin ("No filter named 'x'.", or that the
// jinja2 builtin is not supported here).
// `deferred`: the name sat inside an `if` or conditional expression, so (as in jinja2) the
// error comes only when that code runs, worded slightly differently.
std::string UnknownBuiltinMessage(std::string_view name, bool is_filter, bool deferred);

// Calls a filter or test by name, as map() and select() do; unknown names raise EvalError.
Value CallFilter(std::string_view name, const Value& input, const CallArgs& args);
bool CallTest(std::string_view name, const Value& value, const CallArgs& args);

// Gives strftime_now the time to format; transformers uses the local time of the call.
using Clock = std::function<std::tm()>;

// The global functions: range, dict, namespace, raise_exception, strftime_now; an Undefined
// explaining the lack for jinja2's lipsum, cycler and joiner; nullopt for other names.
std::optional<Value> FindGlobal(std::string_view name, const Clock& clock);

}  // namespace modelgrow::jinja
