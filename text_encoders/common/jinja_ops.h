// Operators and element access with the semantics jinja2 compiles them to: Python's operators,
// plus jinja2's sandboxed getattr/getitem (attribute and item lookup fall back on each other,
// and a miss gives an Undefined rather than an error).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "common/jinja_value.h"

namespace modelgrow::jinja {

enum class BinaryOp { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };

// Python's a + b, a - b, ...; errors are EvalErrors with Python's messages. Integers are 64-bit
// here: a result Python would hold in a big integer is an error instead.
Value BinaryOperation(BinaryOp op, const Value& a, const Value& b);
Value Negate(const Value& value);
Value Positive(const Value& value);

// Python's `item in container`.
bool Contains(const Value& container, const Value& item);
// Python's len(value); Undefined has length 0.
size_t Length(const Value& value);
// What Python's iter(value) yields: list items, a string's characters, a dict's keys; an
// Undefined yields nothing.
std::vector<Value> Iterate(const Value& value);

// jinja2's getitem: obj[key], falling back on attribute lookup for string keys.
Value GetItem(const Value& object, const Value& key);
// jinja2's getattr: attribute (including methods such as str.strip and dict.items), falling
// back on obj[name]. Methods that would mutate a container are refused as the immutable sandbox
// refuses them: the lookup gives an Undefined whose use raises the sandbox's message.
Value GetAttr(const Value& object, std::string_view name);
// Python's getattr(object, name) alone, without jinja2's item fallback: a method, a namespace
// or loop attribute, a named-tuple field; nullopt when there is none (the attr filter's
// lookup).
std::optional<Value> AttributeOnly(const Value& object, std::string_view name);
// obj[start:stop:step] for lists, tuples and strings; any bound may be None or Undefined
// (absent).
Value Slice(const Value& object, const Value& start, const Value& stop, const Value& step);

}  // namespace modelgrow::jinja
