// Where a test program finds the build's and the source tree's files.
//
// The checkout's absolute paths are compiled into one small file (test_paths.cc) instead of into
// every test's compile line: a test object then does not depend on where the tree was cloned, and
// ccache gives a second clone's test objects from the first one's. CMake writes the path macros
// the tests use (MODELGROW_BUILD_DIR, EXPERIMENT_TEST_PLUGINS, ...) as calls to these functions
// (cmake/ModelGrowTesting.cmake, modelgrow_build_path).
#pragma once

namespace modelgrow::testing {

// `relative` under the build folder (or the folder itself for ""); the pointer lives as long as
// the program.
const char* BuildPath(const char* relative);
// `relative` under the source tree.
const char* SourcePath(const char* relative);
// An LD_PRELOAD list for the library `relative` under the build folder: in a sanitizer build the
// sanitizer's runtime comes first, as it must be the first library loaded.
const char* PreloadPath(const char* relative);

}  // namespace modelgrow::testing
