// The C interface of libmodelgrow_sentencepiece, a small library that wraps SentencePiece.
//
// Why a separate library behind dlopen: Debian's libsentencepiece carries its own copy of
// protobuf-lite and exports those symbols, while LibTorch pulls in the system libprotobuf. Linked
// into one process normally, one copy's symbols replace the other's and the process crashes at
// start-up. libmodelgrow_text opens this wrapper with RTLD_LOCAL | RTLD_DEEPBIND, so SentencePiece
// binds to its own protobuf and nothing else sees it. Only C types cross the boundary.
#pragma once

#include <stddef.h>

#define MGSPM_EXPORT __attribute__((visibility("default")))

#ifdef __cplusplus
extern "C" {
#endif

typedef struct MgSpm MgSpm;

// Every char* / int* the functions hand out is released with mgspm_release.
MGSPM_EXPORT void mgspm_release(void* buffer);

// A processor from a serialized model; NULL and *error set on failure.
MGSPM_EXPORT MgSpm* mgspm_load(const char* model, size_t size, char** error);
MGSPM_EXPORT void mgspm_free(MgSpm* spm);
// vocabulary size, pad, eos, bos, unk ids (-1 when undefined).
MGSPM_EXPORT void mgspm_info(const MgSpm* spm, int* vocab, int* pad, int* eos, int* bos, int* unk);
// Returns 0 on success.
MGSPM_EXPORT int mgspm_encode(const MgSpm* spm, const char* text, size_t size, int** ids,
                              size_t* count, char** error);
MGSPM_EXPORT int mgspm_decode(const MgSpm* spm, const int* ids, size_t count, char** text,
                              char** error);
// "" for an id out of range.
MGSPM_EXPORT char* mgspm_id_to_piece(const MgSpm* spm, int id);
MGSPM_EXPORT int mgspm_piece_to_id(const MgSpm* spm, const char* piece);

// Trains with the library's trainer on `lines`; key/value arguments as spm_train's flags.
// Returns 0 and the serialized model in *model / *model_size, or non-zero and *error.
MGSPM_EXPORT int mgspm_train(const char* const* keys, const char* const* values,
                             size_t argument_count, const char* const* lines, size_t line_count,
                             char** model, size_t* model_size, char** error);

#ifdef __cplusplus
}
#endif
