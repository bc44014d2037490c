# modelgrow_add_plugin(<target> [KIND growth|text|data|vae] SOURCES <files...> [LIBRARIES <libs...>]
#                      [DATA <folder>] [NO_INSTALL])
#
# Builds one ModelGrow plugin: a shared library (<target>.so) linked against the toolkit's core
# library and SDK. Works inside the ModelGrow tree and, after find_package(ModelGrow), in any
# other project (see docs/writing-a-plugin.md). Inside the tree the plugin lands in
# build/lib/modelgrow/plugins, where the `modelgrow` CLI of that build finds it.
#
# DATA names a folder whose files the plugin's examples refer to as "${data}" (fixtures for the
# conformance suites); it is copied beside the library as <target>.data/.
# KIND records the target in the global property MODELGROW_PLUGIN_TARGETS_<kind>, so the tests of
# a kind depend on every plugin of it without a list anyone has to edit.
function(modelgrow_add_plugin target)
  cmake_parse_arguments(ARG "NO_INSTALL" "KIND;DATA" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "modelgrow_add_plugin(${target}): no SOURCES given")
  endif()
  if(ARG_KIND AND NOT ARG_KIND MATCHES "^(growth|text|data|vae)$")
    message(FATAL_ERROR "modelgrow_add_plugin(${target}): KIND must be growth, text, data or vae")
  endif()
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE ModelGrow::core ${ARG_LIBRARIES})
  target_compile_features(${target} PRIVATE cxx_std_20)
  set_target_properties(${target} PROPERTIES PREFIX "" SUFFIX ".so")
  if(TARGET modelgrow_pch)
    # In the ModelGrow tree: reuse the core's precompiled LibTorch header.
    target_precompile_headers(${target} REUSE_FROM modelgrow_pch)
  else()
    target_precompile_headers(${target} PRIVATE <torch/torch.h>)
  endif()
  set(output_dir ${CMAKE_CURRENT_BINARY_DIR})
  if(MODELGROW_PLUGIN_OUTPUT_DIR)
    set(output_dir ${MODELGROW_PLUGIN_OUTPUT_DIR})
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${output_dir})
  endif()
  if(MODELGROW_PLUGIN_INSTALL_DIR)
    # Shared libraries of the toolkit (lib/) from lib/modelgrow/plugins/.
    set_target_properties(${target} PROPERTIES INSTALL_RPATH "$ORIGIN/../..")
  endif()
  if(ARG_DATA)
    get_filename_component(data_source ${ARG_DATA} ABSOLUTE)
    file(GLOB_RECURSE data_files CONFIGURE_DEPENDS ${data_source}/*)
    set(copied)
    foreach(file ${data_files})
      file(RELATIVE_PATH name ${data_source} ${file})
      set(dest ${output_dir}/${target}.data/${name})
      add_custom_command(OUTPUT ${dest} COMMAND ${CMAKE_COMMAND} -E copy ${file} ${dest}
        DEPENDS ${file} COMMENT "plugin data ${target}.data/${name}" VERBATIM)
      list(APPEND copied ${dest})
    endforeach()
    add_custom_target(${target}_data DEPENDS ${copied})
    add_dependencies(${target} ${target}_data)
  endif()
  if(ARG_KIND)
    set_property(GLOBAL APPEND PROPERTY MODELGROW_PLUGIN_TARGETS_${ARG_KIND} ${target})
  endif()
  if(NOT ARG_NO_INSTALL AND MODELGROW_PLUGIN_INSTALL_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION ${MODELGROW_PLUGIN_INSTALL_DIR})
    if(ARG_DATA)
      # Beside the installed library too, so the suites can run the installed plugins' examples.
      install(DIRECTORY ${data_source}/ DESTINATION ${MODELGROW_PLUGIN_INSTALL_DIR}/${target}.data)
    endif()
  endif()
endfunction()

# modelgrow_add_plugin_folders(): adds every subfolder of the current source folder that holds a
# CMakeLists.txt, in name order. A new plugin is a new folder; no list names it.
function(modelgrow_add_plugin_folders)
  file(GLOB children RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} CONFIGURE_DEPENDS
       ${CMAKE_CURRENT_SOURCE_DIR}/*/CMakeLists.txt)
  list(SORT children)
  foreach(child ${children})
    get_filename_component(folder ${child} DIRECTORY)
    add_subdirectory(${folder})
  endforeach()
endfunction()

# Plugin folders may register their own tests; outside the ModelGrow tree (or with tests off)
# that is a no-op, so a plugin folder builds the same everywhere.
if(NOT COMMAND modelgrow_add_plugin_test)
  function(modelgrow_add_plugin_test)
  endfunction()
endif()
