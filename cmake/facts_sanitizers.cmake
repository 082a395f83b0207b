# AddressSanitizer + UndefinedBehaviorSanitizer for the test build (FACTS_SANITIZE=ON).
function(facts_set_sanitizers target)
  if(FACTS_SANITIZE)
    set(flags -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
    target_compile_options(${target} PRIVATE ${flags})
    target_link_options(${target} PRIVATE ${flags})
  endif()
endfunction()
