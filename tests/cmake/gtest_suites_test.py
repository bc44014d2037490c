#!/usr/bin/env python3
"""Checks cmake/GTestSuites.cmake, which turns a GoogleTest program's listing into one ctest test
per suite: every suite with a test that runs is registered and nothing else, a shared suite name
is told apart, a missing or failing program says so, and a rebuilt program is listed again.

  gtest_suites_test.py SOURCE_DIR [CTEST]
"""
import json
import os
import subprocess
import sys
import tempfile
import time

SCRIPT = os.path.join(sys.argv[1], "cmake", "GTestSuites.cmake")
CTEST = sys.argv[2] if len(sys.argv) > 2 else "ctest"

# What a real program prints for --gtest_list_tests: gtest_main's banner, typed and
# value-parameterised suites with their comments (one cut short inside a "[", as GoogleTest cuts
# long ones), and disabled suites and tests.
LISTING = """Running main() from ./googletest/src/gtest_main.cc
Plain.
  First
  Second
Typed/0.  # TypeParam = int
  Works
Data/Param.
  Case/example_0  # GetParam() = {"a" : 1}
  Case/example_1  # GetParam() = {"a" : 2}
  DISABLED_Slow/example_0  # GetParam() = {"a" : 1}
Text/Example.
  Encodes/t5_0  # GetParam() = t5 example 0: {\n    "test_prompts" : [\n        "",\n        "a red ci...
  Encodes/t5_1  # GetParam() = t5 example 1: {"max_length" : 16}
After.
  Runs
DISABLED_Broken.
  Anything
OnlyDisabled.
  DISABLED_Later
"""


def write_program(path, listing, status=0):
    with open(path + ".txt", "w") as f:
        f.write(listing)
    with open(path, "w") as f:
        f.write(f'#!/bin/sh\n[ "$1" = --gtest_list_tests ] && cat "{path}.txt"\nexit {status}\n')
    os.chmod(path, 0o755)


def write_include(folder, target, labels="unit", cost=1):
    include = os.path.join(folder, f"{target}_include.cmake")
    with open(include, "w") as f:
        f.write(f"set(program [==[{os.path.join(folder, target)}]==])\n"
                f"set(target [==[{target}]==])\n"
                f"set(working_dir [==[{folder}]==])\n"
                f"set(suites_file [==[{os.path.join(folder, target)}_suites.cmake]==])\n"
                f"set(labels [==[{labels}]==])\n"
                f"set(environment [==[OMP_NUM_THREADS=1]==])\n"
                f"set(cost_per_test {cost})\n"
                f"include([==[{SCRIPT}]==])\n")
    return include


def registered(folder):
    """ctest's view of the folder: {name: (command, properties)}, or the failed run's output."""
    run = subprocess.run([CTEST, "--show-only=json-v1"], cwd=folder, capture_output=True,
                         text=True)
    if run.returncode != 0:
        return run.stdout + run.stderr
    tests = {}
    for test in json.loads(run.stdout)["tests"]:
        properties = {p["name"]: p["value"] for p in test.get("properties", [])}
        tests[test["name"]] = (test.get("command", []), properties)
    return tests


failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAILED:", what)


with tempfile.TemporaryDirectory() as folder:
    write_program(os.path.join(folder, "first_test"), LISTING)
    write_program(os.path.join(folder, "second_test"), "Plain.\n  Other\nOwn.\n  One\n")
    includes = [write_include(folder, "first_test", "integration", 5),
                write_include(folder, "second_test"),
                write_include(folder, "missing_test")]
    with open(os.path.join(folder, "CTestTestfile.cmake"), "w") as f:
        f.writelines(f'include("{include}")\n' for include in includes)

    tests = registered(folder)
    check(isinstance(tests, dict), f"ctest reads the suites: {tests}")
    tests = tests if isinstance(tests, dict) else {}
    check(sorted(tests) == ["After", "Data/Param", "Own", "Plain", "Plain@second_test",
                            "Text/Example", "Typed/0", "missing_test_NOT_BUILT"],
          f"registered names: {sorted(tests)}")
    command, properties = tests.get("Plain", ([], {}))
    check(command == [os.path.join(folder, "first_test"), "--gtest_filter=Plain.*"],
          f"a suite runs its program with its filter: {command}")
    check(properties.get("LABELS") == ["integration"], f"labels: {properties.get('LABELS')}")
    check(properties.get("ENVIRONMENT") == ["OMP_NUM_THREADS=1"],
          f"environment: {properties.get('ENVIRONMENT')}")
    check(properties.get("WORKING_DIRECTORY") == folder,
          f"working directory: {properties.get('WORKING_DIRECTORY')}")
    # Two enabled tests of a program whose tests cost 5 each; the disabled one is not counted.
    check(properties.get("COST") == 10.0, f"cost of Plain: {properties.get('COST')}")
    check(tests.get("Data/Param", ({}, {}))[1].get("COST") == 10.0,
          "a disabled parameterised test is not counted")
    check(tests.get("Text/Example", ({}, {}))[1].get("COST") == 10.0,
          "a comment with an unclosed bracket hides no test")
    check(tests.get("Plain@second_test", ([""], {}))[0][-1] == "--gtest_filter=Plain.*",
          "the second program's suite of a taken name runs that suite")

    # A rebuilt program is listed again; an unchanged one is not run at all.
    program = os.path.join(folder, "second_test")
    with open(program + ".txt", "w") as f:  # what the program would print, program untouched
        f.write("Renamed.\n  One\n")
    check("Own" in registered(folder), "an unchanged program's old listing is kept")
    later = time.time() + 5
    os.utime(program, (later, later))
    after = registered(folder)
    check(isinstance(after, dict) and "Renamed" in after and "Own" not in after,
          f"a rebuilt program is listed again: {sorted(after) if isinstance(after, dict) else after}")

    # A program that cannot list its tests stops ctest with its name and output.
    write_program(program, "listing failed: missing library\n", status=3)
    later += 5
    os.utime(program, (later, later))
    output = registered(folder)
    check(isinstance(output, str) and "second_test --gtest_list_tests failed (3)" in output
          and "missing library" in output, f"a failing listing is reported: {output}")

print("gtest_suites_test:", "FAILED" if failures else "OK")
sys.exit(1 if failures else 0)
