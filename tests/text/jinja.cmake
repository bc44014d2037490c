# text_jinja_test: the Jinja interpreter against goldens rendered by Python's jinja2, plus unit
# tests of its value semantics, filters, whitespace control and errors. Needs only
# modelgrow_jinja (text_encoders/common/jinja.cmake), GoogleTest and the fixtures.
include_guard(GLOBAL)
find_package(GTest REQUIRED)
include(GoogleTest)

add_executable(text_jinja_test ${CMAKE_CURRENT_LIST_DIR}/jinja_test.cc)
target_link_libraries(text_jinja_test PRIVATE modelgrow_jinja GTest::gtest GTest::gtest_main)
target_compile_definitions(text_jinja_test PRIVATE
  MODELGROW_CHAT_TEMPLATE_FIXTURES="${CMAKE_CURRENT_LIST_DIR}/../fixtures/chat_templates")
gtest_discover_tests(text_jinja_test DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60)
