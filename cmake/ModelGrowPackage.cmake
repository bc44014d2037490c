# `cmake --install` produces a CMake package: find_package(ModelGrow) gives ModelGrow::core and
# modelgrow_add_plugin(), so plugins build in other repositories against an installed toolkit.
include(CMakePackageConfigHelpers)

install(EXPORT ModelGrowTargets NAMESPACE ModelGrow::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ModelGrow)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ModelGrowConfig.cmake.in
  ${CMAKE_BINARY_DIR}/ModelGrowConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ModelGrow
  PATH_VARS CMAKE_INSTALL_LIBDIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/ModelGrowConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/ModelGrowConfig.cmake ${CMAKE_BINARY_DIR}/ModelGrowConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ModelGrow)
