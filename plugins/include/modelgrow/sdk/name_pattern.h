// Regular expressions over dotted module and parameter names ("spatial_blocks.0.attn.proj.weight")
// that cover whole name segments, as PEFT's target_modules reads a name: "attn.proj" names
// "spatial_blocks.0.attn.proj" and never "spatial_blocks.0.cross_attn.proj". LoRA targets and
// the optimizer's parameter groups both name layers this way, so a manifest's pattern means the
// same in either place.
#pragma once

#include <regex>
#include <string>

namespace modelgrow {

enum class NameScope {
  kModule,          // the whole name, or a suffix of it that starts after a dot
  kModuleAndBelow,  // the same, or any name inside it ("attn.proj" takes "...attn.proj.weight")
};

// Throws InputError, quoting `pattern` as written, when it is no valid ECMAScript regex.
std::regex DottedNamePattern(const std::string& pattern, NameScope scope);

}  // namespace modelgrow
