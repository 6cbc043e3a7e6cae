# GEMM kernel sources for revcore's static kernel library.
#
#   include(cmake/kernels.cmake)
#   add_library(revcore_kernels STATIC ... ${REVCORE_GEMM_SOURCES})
#   target_link_libraries(revcore_kernels PUBLIC ${REVCORE_GEMM_LINK_LIBRARIES})
#
# Each instruction set has its own translation unit with its own flags; gemm.cpp picks one at
# run time, so no -march flag is needed (or wanted) anywhere. Source file properties are
# directory-scoped: include this file from the CMakeLists.txt that creates the target.

set(_revcore_gemm_dir "${PROJECT_SOURCE_DIR}/src/gemm")

set(REVCORE_GEMM_SOURCES
    "${_revcore_gemm_dir}/gemm.cpp"
    "${_revcore_gemm_dir}/generic.cpp"
    "${_revcore_gemm_dir}/avx2.cpp"
    "${_revcore_gemm_dir}/avx512.cpp")

# On other processors (or compilers) the AVX files compile to stubs and only the generic
# path exists.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|x86-64|x64)$"
   AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set_source_files_properties("${_revcore_gemm_dir}/avx2.cpp"
                              PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma")
  set_source_files_properties(
    "${_revcore_gemm_dir}/avx512.cpp"
    PROPERTIES COMPILE_OPTIONS "-mavx512f;-mavx512dq;-mavx512vl;-mavx512bw;-mfma")
endif()

find_package(Threads REQUIRED)
set(REVCORE_GEMM_LINK_LIBRARIES Threads::Threads)
