# Test and benchmark helpers for the ModelGrow tree. Included before the plugin folders, so a
# plugin's folder registers its own tests next to its code.
#
#   modelgrow_add_test(<name> SOURCES ... [LIBRARIES ...] [LABELS ...] [DEPENDS ...])
#   modelgrow_add_plugin_test(<name> PLUGIN <plugin target> SOURCES ... [LIBRARIES ...]
#                             [LABELS ...] [DEPENDS ...])
#   modelgrow_add_benchmark(<name> SOURCES ... [LIBRARIES ...] [DEPENDS ...])
#
# Labels: `unit` (the default: seconds, no CLI), `integration` (the CLI, several components or
# plugins together), `slow` (half a minute or more). `ctest -L unit` is the one-minute check;
# scripts/test.sh runs everything.

if(NOT MODELGROW_BUILD_TESTS)
  function(modelgrow_add_test)
  endfunction()
  function(modelgrow_add_plugin_test)
  endfunction()
  function(modelgrow_add_benchmark)
  endfunction()
  return()
endif()

enable_testing()
find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)

set(MODELGROW_TEST_FIXTURES ${PROJECT_SOURCE_DIR}/tests/fixtures)
set(MODELGROW_TESTS_DIR ${PROJECT_SOURCE_DIR}/tests)
set(MODELGROW_GTEST_SUITES_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/GTestSuites.cmake)

# Test programs compile at -O0: their own code is assertions and glue (the computing runs in the
# optimised libraries they link), and at -O2 a test file takes about a third more compiler time
# for the same test run (measured on model_test, train_trainer_test and eval_test). Their
# precompiled LibTorch header is built with the same option, or GCC would not use it.
set(MODELGROW_TEST_COMPILE_OPTIONS $<$<CXX_COMPILER_ID:GNU,Clang>:-O0>)
add_executable(modelgrow_pch_test ${PROJECT_SOURCE_DIR}/core/pch/pch_main.cc)
target_precompile_headers(modelgrow_pch_test PRIVATE ${PROJECT_SOURCE_DIR}/core/pch/pch.h)
target_link_libraries(modelgrow_pch_test PRIVATE torch)
target_compile_options(modelgrow_pch_test PRIVATE ${MODELGROW_TEST_COMPILE_OPTIONS})
set_target_properties(modelgrow_pch_test PROPERTIES EXCLUDE_FROM_ALL ON)

# The sanitizer runtime an LD_PRELOAD list must start with, in a sanitizer build.
set(MODELGROW_SANITIZER_RUNTIME "")
if(MODELGROW_SANITIZE STREQUAL "address" OR MODELGROW_SANITIZE STREQUAL "thread")
  if(MODELGROW_SANITIZE STREQUAL "address")
    set(runtime libasan.so)
  else()
    set(runtime libtsan.so)
  endif()
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=${runtime}
                  OUTPUT_VARIABLE runtime_path OUTPUT_STRIP_TRAILING_WHITESPACE)
  # A compiler without that file prints the bare name back.
  if(IS_ABSOLUTE "${runtime_path}" AND EXISTS "${runtime_path}")
    set(MODELGROW_SANITIZER_RUNTIME "${runtime_path}")
  endif()
endif()

# Test programs find the tree's files through tests/test_paths.cc, the one object that holds the
# checkout's absolute paths, so that every other test object is the same in any clone and ccache
# shares it (tests/test_paths.h). A path a test needs is a compile definition written by
# modelgrow_build_path / modelgrow_source_path: a call of that library with a relative path.
add_library(modelgrow_test_paths STATIC ${MODELGROW_TESTS_DIR}/test_paths.cc)
target_include_directories(modelgrow_test_paths PUBLIC ${MODELGROW_TESTS_DIR})
target_compile_definitions(modelgrow_test_paths PRIVATE
  MODELGROW_TEST_BUILD_ROOT="${CMAKE_BINARY_DIR}"
  MODELGROW_TEST_SOURCE_ROOT="${PROJECT_SOURCE_DIR}"
  MODELGROW_TEST_PRELOAD_RUNTIME="${MODELGROW_SANITIZER_RUNTIME}")

# modelgrow_build_path(<var> <path>): a C++ expression for <path>, a path under the build folder
# (generator expressions such as $<TARGET_FILE:...> allowed). CALL <function> picks test_paths.h's
# function (default BuildPath).
function(modelgrow_build_path var path)
  cmake_parse_arguments(ARG "" "CALL" "" ${ARGN})
  if(NOT ARG_CALL)
    set(ARG_CALL BuildPath)
  endif()
  set(${var}
      "::modelgrow::testing::${ARG_CALL}(\"$<PATH:RELATIVE_PATH,${path},${CMAKE_BINARY_DIR}>\")"
      PARENT_SCOPE)
endfunction()

# modelgrow_source_path(<var> <path>): the same for a path under the source tree.
function(modelgrow_source_path var path)
  file(RELATIVE_PATH relative ${PROJECT_SOURCE_DIR} ${path})
  set(${var} "::modelgrow::testing::SourcePath(\"${relative}\")" PARENT_SCOPE)
endfunction()

# The path definitions every test and benchmark program has; each file that uses one includes
# test_paths.h (test_util.h and cli_util.h do).
modelgrow_source_path(fixtures_path ${MODELGROW_TEST_FIXTURES})
modelgrow_source_path(source_path ${PROJECT_SOURCE_DIR})
modelgrow_build_path(build_path ${CMAKE_BINARY_DIR})
modelgrow_build_path(plugin_path ${MODELGROW_PLUGIN_OUTPUT_DIR})
set(MODELGROW_TEST_PATH_DEFINITIONS
  MODELGROW_TEST_FIXTURES=${fixtures_path}
  MODELGROW_BUILD_DIR=${build_path}
  MODELGROW_SOURCE_DIR=${source_path}
  MODELGROW_PLUGIN_DIR=${plugin_path})

function(modelgrow_add_test name)
  cmake_parse_arguments(ARG "" "PLUGIN" "SOURCES;LIBRARIES;LABELS;DEPENDS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE modelgrow_core modelgrow_test_paths GTest::gtest
                        GTest::gmock GTest::gtest_main ${ARG_LIBRARIES})
  target_include_directories(${name} PRIVATE ${MODELGROW_TESTS_DIR})
  target_compile_definitions(${name} PRIVATE ${MODELGROW_TEST_PATH_DEFINITIONS})
  if(ARG_PLUGIN)
    modelgrow_build_path(plugin_file "$<TARGET_FILE:${ARG_PLUGIN}>")
    target_compile_definitions(${name} PRIVATE MODELGROW_TEST_PLUGIN_FILE=${plugin_file})
    add_dependencies(${name} ${ARG_PLUGIN})
  endif()
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
  target_compile_options(${name} PRIVATE ${MODELGROW_TEST_COMPILE_OPTIONS})
  target_precompile_headers(${name} REUSE_FROM modelgrow_pch_test)
  modelgrow_add_gtest_suites(${name} LABELS ${ARG_LABELS})
endfunction()

# modelgrow_add_gtest_suites(<target> [LABELS ...]): one ctest test per GoogleTest suite of the
# program, named after the suite and running all its tests in one process (cmake/GTestSuites.cmake
# says why). Suites are listed at ctest time, when the program has changed since the last listing.
function(modelgrow_add_gtest_suites target)
  cmake_parse_arguments(ARG "" "" "LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  # A fresh build folder has no timings: a test of a slow program counts as 30 fast ones.
  set(cost 1)
  if("slow" IN_LIST ARG_LABELS)
    set(cost 30)
  elseif("integration" IN_LIST ARG_LABELS)
    set(cost 5)
  endif()
  set(include_file ${CMAKE_CURRENT_BINARY_DIR}/${target}_include.cmake)
  string(CONCAT content
    "set(program [==[$<TARGET_FILE:${target}>]==])\n"
    "set(target [==[${target}]==])\n"
    "set(working_dir [==[${CMAKE_CURRENT_BINARY_DIR}]==])\n"
    "set(suites_file [==[${CMAKE_CURRENT_BINARY_DIR}/${target}_suites.cmake]==])\n"
    "set(labels [==[${ARG_LABELS}]==])\n"
    "set(environment [==[OMP_NUM_THREADS=1]==])\n"
    "set(cost_per_test ${cost})\n"
    "include([==[${MODELGROW_GTEST_SUITES_SCRIPT}]==])\n")
  file(GENERATE OUTPUT ${include_file} CONTENT "${content}")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${include_file})
endfunction()

function(modelgrow_add_plugin_test name)
  cmake_parse_arguments(ARG "" "PLUGIN" "" ${ARGN})
  if(NOT ARG_PLUGIN)
    message(FATAL_ERROR "modelgrow_add_plugin_test(${name}): name the PLUGIN target it tests")
  endif()
  modelgrow_add_test(${name} ${ARGN})
endfunction()

function(modelgrow_add_benchmark name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES;DEPENDS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE modelgrow_core modelgrow_test_paths benchmark::benchmark
                        ${ARG_LIBRARIES})
  target_include_directories(${name} PRIVATE ${MODELGROW_TESTS_DIR})
  target_compile_definitions(${name} PRIVATE ${MODELGROW_TEST_PATH_DEFINITIONS})
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
  target_precompile_headers(${name} REUSE_FROM modelgrow_pch_exe)
endfunction()

# Every test that runs the CLI or loads the built plugins of a kind depends on them by these
# helpers, resolved after all plugin folders were added.
function(modelgrow_plugin_targets out)
  set(targets)
  foreach(kind ${ARGN})
    get_property(kind_targets GLOBAL PROPERTY MODELGROW_PLUGIN_TARGETS_${kind})
    list(APPEND targets ${kind_targets})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

# Sets `var` to a C++ expression for what a test puts in LD_PRELOAD to load `target` (a
# fault-injection shim) into the CLI it starts. Under a sanitizer the sanitizer's runtime must come
# first in the process's library list or it aborts at start, so the list starts with it. (Only GCC
# links that runtime as a shared library; clang links it into each program, where the order does
# not arise.)
function(modelgrow_preload_list var target)
  modelgrow_build_path(list "$<TARGET_FILE:${target}>" CALL PreloadPath)
  set(${var} "${list}" PARENT_SCOPE)
endfunction()
