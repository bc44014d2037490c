// Helpers shared by the fuzz targets (tests/fuzz/*_fuzz.cc).
//
// Each target is one LLVMFuzzerTestOneInput: it hands the bytes to one reader of outside files
// and accepts exactly the errors that reader documents for bad input (InputError and its own
// kinds). Anything else -- another exception, a crash, a sanitizer report, a hang -- is a finding.
// The same sources build two ways: with libFuzzer (-DMODELGROW_FUZZ=ON, clang, ASan + UBSan;
// scripts/fuzz.sh) and, in the normal build, with replay_main.cc as a ctest that runs every seed
// and every saved regression input through the target.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace modelgrow::fuzz {

// A folder of this process's own under TMPDIR, made once and removed at exit.
inline const std::filesystem::path& WorkDir() {
  static const std::filesystem::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::filesystem::path base = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    std::filesystem::path d = base / ("modelgrow-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  // Registered once `dir` is whole, so that at exit it runs before `dir` is destroyed (exit runs
  // handlers and static destructors in reverse order of registration); registered inside the
  // initializer it would read a destroyed path (valgrind saw it).
  static const bool removed_at_exit = [] {
    return std::atexit([] {
             std::error_code ec;
             std::filesystem::remove_all(WorkDir(), ec);
           }) == 0;
  }();
  (void)removed_at_exit;
  return dir;
}

// Writes `bytes` to WorkDir()/name (replacing it) and returns the path.
inline std::filesystem::path WriteInput(const std::string& name, std::string_view bytes) {
  std::filesystem::path path = WorkDir() / name;
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace modelgrow::fuzz
