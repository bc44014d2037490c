# Run at build time (cmake -P): writes OUT with a hash of the sources that compute results — the
# host (core/), the SDK (plugins/include/) and the in-tree plugins (growth_ops/, text_encoders/,
# datasets/), tests and docs excluded. Stage caches key on it (experiment/run_context.cc), so a
# changed computation never reuses a stale stage and nobody has to bump a constant by hand.
# Touches OUT only when the hash changes.
set(files)
foreach(dir core plugins/include growth_ops text_encoders datasets)
  file(GLOB_RECURSE found LIST_DIRECTORIES false RELATIVE ${SOURCE_DIR}
    ${SOURCE_DIR}/${dir}/*.cc ${SOURCE_DIR}/${dir}/*.h ${SOURCE_DIR}/${dir}/*.in
    ${SOURCE_DIR}/${dir}/*.proto ${SOURCE_DIR}/${dir}/*.txt)
  list(APPEND files ${found})
endforeach()
list(FILTER files EXCLUDE REGEX "_test\\.cc$|/tests?/|/testdata/")
list(SORT files)
set(stream "")
foreach(f ${files})
  file(SHA256 ${SOURCE_DIR}/${f} h)
  string(APPEND stream "${f} ${h}\n")
endforeach()
string(SHA256 version "${stream}")
list(LENGTH files count)
set(text "// Generated at build time by cmake/WriteCodeVersion.cmake from ${count} source files.\nnamespace modelgrow {\nextern const char kCodeVersion[] = \"${version}\";\n}\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
