# Runs at ctest time, from the include file modelgrow_add_gtest_suites() writes for one GoogleTest
# program: lists the program's test suites (re-listing only after the program was rebuilt) and adds
# one ctest test per suite, which runs all of the suite's tests in one process.
#
# Why suites and not single tests: each process pays LibTorch's start-up (0.4-0.8 s of CPU,
# measured on a 2-core machine) before its first test, and one process per test (1,680 of them)
# spent more CPU starting than testing. A suite keeps ctest's parallelism, its labels and `-R Name`
# selection; the failing test's name is in the suite's output (`--output-on-failure`).
#
# Expects: program, target, working_dir, suites_file, labels, environment, cost_per_test.
# ctest reads its files with no policies set; this include has its own policy scope.
cmake_policy(VERSION 3.25)

if(NOT EXISTS "${program}")
  add_test(${target}_NOT_BUILT ${target}_NOT_BUILT)
  return()
endif()

if(NOT EXISTS "${suites_file}" OR NOT "${suites_file}" IS_NEWER_THAN "${program}" OR
   NOT "${suites_file}" IS_NEWER_THAN "${CMAKE_CURRENT_LIST_FILE}")
  execute_process(COMMAND "${program}" --gtest_list_tests
    WORKING_DIRECTORY "${working_dir}" TIMEOUT 60
    OUTPUT_VARIABLE listing ERROR_VARIABLE listing_errors RESULT_VARIABLE listed)
  if(NOT listed EQUAL 0)
    message(FATAL_ERROR
      "${program} --gtest_list_tests failed (${listed}), so its tests cannot be registered:\n"
      "${listing}${listing_errors}")
  endif()
  # A suite line is the suite's name and a dot; test lines are indented. gtest_main's "Running
  # main() from ..." line has spaces and is skipped. The "# TypeParam/GetParam() = ..." comments
  # go first: GoogleTest cuts them short, and an unclosed "[" in one would make CMake's list
  # splitting swallow every line after it (a whole suite went missing so). Names hold no brackets;
  # any left are neutralised too.
  string(REGEX REPLACE "  # [^\n]*" "" listing "${listing}")
  string(REPLACE "[" "(" listing "${listing}")
  string(REPLACE "]" ")" listing "${listing}")
  string(REPLACE ";" "\\;" listing "${listing}")
  string(REPLACE "\n" ";" lines "${listing}")
  # Each suite's count of enabled tests is appended when the next suite line (or the end) comes.
  set(suites)
  set(counts)
  set(suite)
  set(count 0)
  list(APPEND lines "end.")
  foreach(line IN LISTS lines)
    if(line MATCHES "^([^ ]+)\\.$")
      if(suite)
        list(APPEND suites "${suite}")
        list(APPEND counts ${count})
      endif()
      set(suite "${CMAKE_MATCH_1}")
      set(count 0)
      if(suite MATCHES "^DISABLED_")
        set(suite)
      endif()
    elseif(suite AND line MATCHES "^  [^ ]" AND NOT line MATCHES "^  DISABLED_")
      math(EXPR count "${count} + 1")
    endif()
  endforeach()
  file(WRITE "${suites_file}" "set(suites [==[${suites}]==])\nset(counts [==[${counts}]==])\n")
endif()

include("${suites_file}")
foreach(suite count IN ZIP_LISTS suites counts)
  if(count EQUAL 0)
    continue()
  endif()
  # Two programs with a suite of the same name would give two ctest tests of one name, which
  # set_tests_properties and -R cannot tell apart; the second is named after its program too.
  set(name "${suite}")
  get_property(taken GLOBAL PROPERTY MODELGROW_GTEST_SUITES)
  if(name IN_LIST taken)
    set(name "${suite}@${target}")
  endif()
  set_property(GLOBAL APPEND PROPERTY MODELGROW_GTEST_SUITES "${name}")
  add_test("${name}" "${program}" "--gtest_filter=${suite}.*")
  # A fresh build folder has no timings yet: bigger suites first, so that none starts last.
  math(EXPR cost "${count} * ${cost_per_test}")
  set_tests_properties("${name}" PROPERTIES WORKING_DIRECTORY "${working_dir}"
    LABELS "${labels}" ENVIRONMENT "${environment}" COST ${cost})
endforeach()
