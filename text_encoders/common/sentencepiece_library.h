// libmodelgrow_text's handle on libmodelgrow_sentencepiece (see sentencepiece_shim.h for why
// SentencePiece is reached through dlopen rather than linked).
#pragma once

#include "common/sentencepiece_shim.h"

namespace modelgrow {

struct SentencePieceLibrary {
  decltype(&mgspm_release) release;
  decltype(&mgspm_load) load;
  decltype(&mgspm_free) free;
  decltype(&mgspm_info) info;
  decltype(&mgspm_encode) encode;
  decltype(&mgspm_decode) decode;
  decltype(&mgspm_id_to_piece) id_to_piece;
  decltype(&mgspm_piece_to_id) piece_to_id;
  decltype(&mgspm_train) train;
};

// Opens the wrapper beside libmodelgrow_text.so once; RunError when it cannot be loaded.
const SentencePieceLibrary& SentencePiece();

}  // namespace modelgrow
