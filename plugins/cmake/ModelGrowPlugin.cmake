# modelgrow_add_plugin(<target> SOURCES <files...> [LIBRARIES <libs...>] [NO_INSTALL])
#
# Builds one ModelGrow plugin: a shared library (<target>.so) linked against the toolkit's core
# library and SDK. Works inside the ModelGrow tree and, after find_package(ModelGrow), in any
# other project (see docs/writing-a-plugin.md). Inside the tree the plugin lands in
# build/lib/modelgrow/plugins, where the `modelgrow` CLI of that build finds it.
function(modelgrow_add_plugin target)
  cmake_parse_arguments(ARG "NO_INSTALL" "" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "modelgrow_add_plugin(${target}): no SOURCES given")
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
  if(MODELGROW_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${MODELGROW_PLUGIN_OUTPUT_DIR})
  endif()
  if(NOT ARG_NO_INSTALL AND MODELGROW_PLUGIN_INSTALL_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION ${MODELGROW_PLUGIN_INSTALL_DIR})
  endif()
endfunction()
