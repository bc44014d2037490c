#include "test_paths.h"

#include <mutex>
#include <set>
#include <string>

namespace modelgrow::testing {
namespace {

// Interned, so that a path can stand where a test expects a string literal.
const char* Intern(std::string path) {
  static std::mutex mutex;
  static std::set<std::string> paths;  // nodes do not move: their c_str() stays valid
  std::lock_guard<std::mutex> lock(mutex);
  return paths.insert(std::move(path)).first->c_str();
}

std::string Join(const char* root, const char* relative) {
  std::string path = root;
  if (relative[0] != '\0') path += std::string("/") + relative;
  return path;
}

}  // namespace

const char* BuildPath(const char* relative) {
  return Intern(Join(MODELGROW_TEST_BUILD_ROOT, relative));
}

const char* SourcePath(const char* relative) {
  return Intern(Join(MODELGROW_TEST_SOURCE_ROOT, relative));
}

const char* PreloadPath(const char* relative) {
  const std::string runtime = MODELGROW_TEST_PRELOAD_RUNTIME;
  return Intern((runtime.empty() ? "" : runtime + ":") + Join(MODELGROW_TEST_BUILD_ROOT, relative));
}

}  // namespace modelgrow::testing
