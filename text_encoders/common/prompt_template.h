// The `llm` encoder's prompt template: the text around a prompt ("{prompt}" replaced by it), and
// the markers the toolkit's tiny tokenizers keep whole.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace modelgrow {

// The paper's LLaVA / Llama-3 style wrapper: a system line, then the prompt as the user turn.
// The Llama-3 header and end-of-turn markers are plain text here: a real Llama 3 tokenizer maps
// each to one special token, and the toolkit's tiny SentencePiece models (the llm plugin's `make`)
// declare them as user-defined pieces so they are one token there too. BOS comes from add_bos, not
// the text.
inline constexpr std::string_view kDefaultLlmTemplate =
    "<|start_header_id|>system<|end_header_id|>\n\n"
    "You are a helpful language and vision assistant.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|>";

// The markers of kDefaultLlmTemplate.
std::vector<std::string> LlmTemplateMarkers();

// The template's "{prompt}" replaced by the prompt. InputError unless the template holds
// "{prompt}" exactly once.
std::string ApplyTemplate(std::string_view text_template, std::string_view prompt);
// Throws InputError (naming `where`) unless the template holds "{prompt}" exactly once.
void CheckTemplate(std::string_view text_template, std::string_view where);

}  // namespace modelgrow
