# Finds the libraries ModelGrow builds with. On Debian 12 scripts/setup.sh installs all of them;
# on a GPU machine LibTorch comes from the installed PyTorch (see docs/gpu.md).

find_package(Torch REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS program_options)
find_package(fmt REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SentencePiece REQUIRED IMPORTED_TARGET sentencepiece)
find_package(Threads REQUIRED)

# TensorBoard event files are protobuf records (Debian: libprotobuf-dev, protobuf-compiler).
option(MODELGROW_WITH_TENSORBOARD "Write TensorBoard event files (needs protobuf)" ON)
if(MODELGROW_WITH_TENSORBOARD)
  find_package(Protobuf)
  if(NOT Protobuf_FOUND OR NOT Protobuf_PROTOC_EXECUTABLE)
    message(STATUS "protobuf (and protoc) not found: runs write no TensorBoard event files")
    set(MODELGROW_WITH_TENSORBOARD OFF)
  endif()
endif()

if(MODELGROW_WITH_FFMPEG)
  pkg_check_modules(FFmpeg IMPORTED_TARGET libavformat libavcodec libavutil libswscale)
  if(NOT FFmpeg_FOUND)
    message(STATUS "FFmpeg development files not found: the video_csv pipeline is skipped")
    set(MODELGROW_WITH_FFMPEG OFF)
  endif()
endif()

# PyTorch's own include folder can carry a newer fmt than the system's; the header-only target
# works with either (see shared/gpu/README.md).
if(TARGET fmt::fmt-header-only)
  set(MODELGROW_FMT_TARGET fmt::fmt-header-only)
else()
  set(MODELGROW_FMT_TARGET fmt::fmt)
endif()

if(TARGET tomlplusplus::tomlplusplus)
  set(MODELGROW_TOML_TARGET tomlplusplus::tomlplusplus)
endif()

include(CheckLanguage)
if(TORCH_CUDA_LIBRARIES OR CAFFE2_USE_CUDA OR USE_CUDA)
  set(MODELGROW_HAVE_CUDA ON)
else()
  set(MODELGROW_HAVE_CUDA OFF)
endif()
message(STATUS "ModelGrow: LibTorch ${Torch_VERSION} (CUDA: ${MODELGROW_HAVE_CUDA}), HDF5 ${HDF5_VERSION}")
