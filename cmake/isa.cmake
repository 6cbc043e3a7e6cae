# Kernel sources with per-instruction-set flags chosen from the file name:
#
#   revcore_isa_sources(<target> [AUTOVECTORISED] [NO_CONTRACTION] <source>...)
#
# adds the sources to the target; each family's avx2.cpp gets REVCORE_AVX2_FLAGS and its
# avx512.cpp REVCORE_AVX512_FLAGS (on x86-64 with GCC or Clang; elsewhere those files compile
# to stubs, see src/simd/isa.hpp), and every other file the baseline flags of the target.
# The path is chosen at run time (src/common/dispatch.hpp), so no -march flag is needed (or
# wanted) anywhere. Source file properties are directory-scoped: call this from the
# CMakeLists.txt that creates the target.
#
# AUTOVECTORISED adds REVCORE_AUTOVEC_FLAGS to the family's ISA files. Only the LU family asks
# for it: its scalar tails and the column updates of its panel factorization are left to the
# auto-vectoriser and rely on FMA contraction and full-width AVX-512 vectors. The activation
# kernels must not get it (their vector math relies on exact TwoSum sequences, which a
# contracted a * b + c would break), and the GEMM places its FMAs explicitly.
#
# NO_CONTRACTION compiles every file of the family (the portable one too, on any target) with
# REVCORE_NO_CONTRACTION_FLAGS, for kernels that must round a * b + c as two operations: the
# optimiser family, which matches its numpy reference bit for bit.
#
# Every flag set is recorded in the global property REVCORE_ISA_FLAGS, which CMakeLists.txt
# passes to the extension so that show_config() reports the flags of this build.

set(REVCORE_AVX2_FLAGS -mavx2 -mfma)
set(REVCORE_AVX512_FLAGS -mavx512f -mavx512dq -mavx512vl -mavx512bw -mfma)
set(REVCORE_AUTOVEC_FLAGS -ffp-contract=fast)
set(REVCORE_AUTOVEC_AVX512_FLAGS -mprefer-vector-width=512)
set(REVCORE_NO_CONTRACTION_FLAGS -ffp-contract=off)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|x86-64|x64)$"
   AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set(REVCORE_ISA_FLAGS_ENABLED TRUE)
else()
  set(REVCORE_ISA_FLAGS_ENABLED FALSE)
endif()

function(_revcore_record_flags text)
  get_property(recorded GLOBAL PROPERTY REVCORE_ISA_FLAGS)
  if(NOT text IN_LIST recorded)
    set_property(GLOBAL APPEND PROPERTY REVCORE_ISA_FLAGS "${text}")
  endif()
endfunction()

function(revcore_isa_sources target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "AUTOVECTORISED;NO_CONTRACTION" "" "")
  target_sources(${target} PRIVATE ${arg_UNPARSED_ARGUMENTS})
  set(exact "")
  if(arg_NO_CONTRACTION AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    set(exact ${REVCORE_NO_CONTRACTION_FLAGS})
  endif()
  foreach(source IN LISTS arg_UNPARSED_ARGUMENTS)
    get_filename_component(name "${source}" NAME)
    get_filename_component(family "${source}" DIRECTORY)
    get_filename_component(family "${family}" NAME)
    if(NOT REVCORE_ISA_FLAGS_ENABLED OR NOT name MATCHES "^avx(2|512)\\.cpp$")
      if(exact)
        set_source_files_properties("${source}" PROPERTIES COMPILE_OPTIONS "${exact}")
        list(JOIN exact " " text)
        _revcore_record_flags("${family}/${name}: ${text}")
      endif()
      continue()
    endif()
    if(name STREQUAL "avx2.cpp")
      set(flags ${REVCORE_AVX2_FLAGS})
      if(arg_AUTOVECTORISED)
        list(APPEND flags ${REVCORE_AUTOVEC_FLAGS})
      endif()
    elseif(name STREQUAL "avx512.cpp")
      set(flags ${REVCORE_AVX512_FLAGS})
      if(arg_AUTOVECTORISED)
        list(APPEND flags ${REVCORE_AUTOVEC_FLAGS} ${REVCORE_AUTOVEC_AVX512_FLAGS})
      endif()
    endif()
    list(APPEND flags ${exact})
    set_source_files_properties("${source}" PROPERTIES COMPILE_OPTIONS "${flags}")
    list(JOIN flags " " text)
    _revcore_record_flags("${family}/${name}: ${text}")
  endforeach()
endfunction()
