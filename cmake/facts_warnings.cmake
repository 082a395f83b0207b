# Warnings apply to our own targets only, never to the libraries we include.
function(facts_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow)
  if(FACTS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
