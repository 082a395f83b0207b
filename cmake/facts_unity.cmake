# Unity batches for the sanitizer test trees: the library's files each parse Asio, Beast,
# nlohmann/json and spdlog and generate the same inline code again, which under a sanitizer
# costs more than our own code. Batched, the three libraries compile in about a third of the
# time (scripts/test turns this on for build-test and build-tsan). Off by default: the release
# build (the README's first command, scripts/bench) compiles each file on its own, which also
# shows an include a file forgot.
option(FACTS_UNITY "Compile the libraries in unity batches" OFF)

function(facts_set_unity target)
  if(FACTS_UNITY)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
  endif()
endfunction()
