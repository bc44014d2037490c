// Python's two string-formatting languages, as templates reach them: `"%s" % x` (and the
// `format` filter) and str.format().
#pragma once

#include <string>
#include <string_view>

#include "common/jinja_value.h"

namespace modelgrow::jinja {

// Python's `format % args`: args is a tuple of values, a dict for %(name)s, or one value.
// Conversions s r a d i u x X o e E f F g G c and %, with flags, width and precision.
std::string PercentFormat(std::string_view format, const Value& args);

// Python's format.format(*args, **kwargs): automatic and explicit field numbers, keyword fields,
// .attribute and [key] lookups, !s / !r conversions and the format-spec mini-language
// ([[fill]align][sign][#][0][width][,|_][.precision][type]); nested replacement fields inside
// a spec are not supported and raise an error.
std::string BraceFormat(std::string_view format, const CallArgs& args);

}  // namespace modelgrow::jinja
