# Sanitizer builds, one per tree (scripts/test builds each):
#   FACTS_SANITIZE=address  AddressSanitizer + UndefinedBehaviorSanitizer (the main test build)
#   FACTS_SANITIZE=thread   ThreadSanitizer (the concurrency tests)
#   FACTS_SANITIZE=fuzzer   libFuzzer instrumentation with ASan + UBSan (clang only)
set(FACTS_SANITIZE "" CACHE STRING "address, thread, fuzzer or empty")

function(facts_set_sanitizers target)
  if(FACTS_SANITIZE STREQUAL "address" OR FACTS_SANITIZE STREQUAL "ON")
    set(flags -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  elseif(FACTS_SANITIZE STREQUAL "thread")
    # gcc warns that TSan cannot see Asio's atomic_thread_fence; it is not our code to change.
    set(flags -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  elseif(FACTS_SANITIZE STREQUAL "fuzzer")
    set(flags -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
              -fno-omit-frame-pointer)
  else()
    return()
  endif()
  target_compile_options(${target} PRIVATE ${flags})
  target_link_options(${target} PRIVATE ${flags})
endfunction()
