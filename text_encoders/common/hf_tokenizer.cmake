# modelgrow_hf_tokenizer: Hugging Face tokenizer.json in plain C++20 (no LibTorch). An OBJECT
# library: its objects are linked into libmodelgrow_text, and its test links them directly.
include_guard(GLOBAL)
pkg_check_modules(MODELGROW_PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(MODELGROW_ICU REQUIRED IMPORTED_TARGET icu-uc)

add_library(modelgrow_hf_tokenizer OBJECT
  ${CMAKE_CURRENT_LIST_DIR}/added_vocabulary.cc
  ${CMAKE_CURRENT_LIST_DIR}/byte_level_alphabet.cc
  ${CMAKE_CURRENT_LIST_DIR}/decoders.cc
  ${CMAKE_CURRENT_LIST_DIR}/flat_maps.cc
  ${CMAKE_CURRENT_LIST_DIR}/hf_tokenizer.cc
  ${CMAKE_CURRENT_LIST_DIR}/json_view.cc
  ${CMAKE_CURRENT_LIST_DIR}/normalized_string.cc
  ${CMAKE_CURRENT_LIST_DIR}/normalizers.cc
  ${CMAKE_CURRENT_LIST_DIR}/onig_regex.cc
  ${CMAKE_CURRENT_LIST_DIR}/post_processors.cc
  ${CMAKE_CURRENT_LIST_DIR}/pre_tokenizers.cc
  ${CMAKE_CURRENT_LIST_DIR}/precompiled_charsmap.cc
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_models.cc
  ${CMAKE_CURRENT_LIST_DIR}/unicode_text.cc)
set_target_properties(modelgrow_hf_tokenizer PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_compile_features(modelgrow_hf_tokenizer PUBLIC cxx_std_20)
# Sources include each other as "common/<file>.h", relative to text_encoders/, and the SDK's
# header-only parts (modelgrow/sdk/utf8.h) from plugins/include.
target_include_directories(modelgrow_hf_tokenizer PUBLIC
  $<BUILD_INTERFACE:${CMAKE_CURRENT_LIST_DIR}/..>
  $<BUILD_INTERFACE:${CMAKE_CURRENT_LIST_DIR}/../../plugins/include>)
target_link_libraries(modelgrow_hf_tokenizer
  PUBLIC nlohmann_json::nlohmann_json
  PRIVATE PkgConfig::MODELGROW_PCRE2 PkgConfig::MODELGROW_ICU)
