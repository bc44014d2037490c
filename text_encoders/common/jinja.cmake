# modelgrow_jinja: a Jinja interpreter for Hugging Face chat templates (chat_template in
# tokenizer_config.json), rendering what Python's jinja2 renders in transformers'
# environment. Plain C++20 with nlohmann_json; no LibTorch, so it builds in seconds. An OBJECT
# library: its objects are linked into libmodelgrow_text, and its test links them directly.
include_guard(GLOBAL)

add_library(modelgrow_jinja OBJECT
  ${CMAKE_CURRENT_LIST_DIR}/chat_template.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_args.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_error.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_filters.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_format.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_globals.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_interpreter.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_json.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_lexer.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_methods.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_ops.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_parser.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_strings.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_template.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_tests.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_unicode.cc
  ${CMAKE_CURRENT_LIST_DIR}/jinja_value.cc)
set_target_properties(modelgrow_jinja PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_compile_features(modelgrow_jinja PUBLIC cxx_std_20)
# Sources include each other as "common/<file>.h", relative to text_encoders/.
target_include_directories(modelgrow_jinja PUBLIC ${CMAKE_CURRENT_LIST_DIR}/..)
target_link_libraries(modelgrow_jinja PUBLIC nlohmann_json::nlohmann_json)
