# REVCORE_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer on the kernels and the
# extension. The interpreter is not instrumented, so the ASan runtime must be preloaded
# (tools/sanitize.sh does it). UBSan reports are made fatal so that a test run fails on them.
function(revcore_sanitize)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "REVCORE_SANITIZE needs GCC or Clang")
  endif()
  set(flags -fsanitize=address,undefined -fno-sanitize-recover=undefined
            -fno-omit-frame-pointer -g)
  foreach(target IN LISTS ARGN)
    target_compile_options(${target} PRIVATE ${flags})
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endforeach()
endfunction()
