// GPT-2's byte-to-character table: every byte maps to a printable character so that byte-level
// BPE vocabularies are ordinary strings (space is "Ġ", newline "Ċ").
#pragma once

#include <array>
#include <string>

namespace modelgrow::hf {

// The UTF-8 text of the character each byte stands for.
const std::array<std::string, 256>& ByteToCharacter();
// The byte a character stands for, or -1 when it is not part of the alphabet.
int CharacterToByte(char32_t c);

}  // namespace modelgrow::hf
