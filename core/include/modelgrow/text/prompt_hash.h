// SHA-256 of a prompt's UTF-8 bytes, as lowercase hex: the key of the text cache's files and of
// precomputed embedding files (Python: hashlib.sha256(prompt.encode("utf-8")).hexdigest()).
#pragma once

#include <string>
#include <string_view>

namespace modelgrow {

std::string Sha256Hex(std::string_view bytes);

inline std::string PromptHash(std::string_view prompt) { return Sha256Hex(prompt); }

}  // namespace modelgrow
