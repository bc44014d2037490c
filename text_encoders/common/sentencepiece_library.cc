#include "common/sentencepiece_library.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

constexpr const char* kLibrary = "libmodelgrow_sentencepiece.so";

void* Open() {
  // Beside this library (build/lib, or the install's lib), else the loader's search path.
  Dl_info info{};
  std::string beside;
  if (dladdr(reinterpret_cast<void*>(&SentencePiece), &info) != 0 && info.dli_fname) {
    beside = (std::filesystem::path(info.dli_fname).parent_path() / kLibrary).string();
  }
  // DEEPBIND: SentencePiece's bundled protobuf symbols stay its own; LOCAL: nobody else sees them.
  const int flags = RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
  void* handle = nullptr;
  if (!beside.empty() && std::filesystem::exists(beside)) handle = dlopen(beside.c_str(), flags);
  if (!handle) handle = dlopen(kLibrary, flags);
  if (!handle) {
    const char* error = dlerror();
    throw RunError(fmt::format("cannot load {} (the SentencePiece wrapper): {}", kLibrary,
                               error ? error : "not found"));
  }
  return handle;
}

template <typename F>
void Bind(void* handle, const char* name, F& target) {
  target = reinterpret_cast<F>(dlsym(handle, name));
  if (!target) throw RunError(fmt::format("{} lacks the symbol {}", kLibrary, name));
}

}  // namespace

const SentencePieceLibrary& SentencePiece() {
  static SentencePieceLibrary library;
  static std::once_flag once;
  std::call_once(once, [] {
    void* handle = Open();
    Bind(handle, "mgspm_release", library.release);
    Bind(handle, "mgspm_load", library.load);
    Bind(handle, "mgspm_free", library.free);
    Bind(handle, "mgspm_info", library.info);
    Bind(handle, "mgspm_encode", library.encode);
    Bind(handle, "mgspm_decode", library.decode);
    Bind(handle, "mgspm_id_to_piece", library.id_to_piece);
    Bind(handle, "mgspm_piece_to_id", library.piece_to_id);
    Bind(handle, "mgspm_train", library.train);
  });
  return library;
}

}  // namespace modelgrow
