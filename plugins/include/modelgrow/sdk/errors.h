// Error types shared by the host, the SDK and every plugin.
//
// The CLI maps them to exit codes: InputError (and ValidationError) -> 2, anything else -> 1.
#pragma once

#include <stdexcept>
#include <string>

namespace modelgrow {

// Bad input: a manifest, an option, a checkpoint, a data file. The message says where and what
// was expected; nothing has been changed when it is thrown.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failure while running (I/O, a numerical problem, an internal invariant).
class RunError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace modelgrow
