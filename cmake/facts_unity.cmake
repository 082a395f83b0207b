# Unity builds for the sanitizer test trees: the library's files each parse Asio, Beast,
# nlohmann/json and spdlog and generate the same inline code again, which under a sanitizer
# costs more than our own code. Each library is compiled as one file: under clang's ASan the
# three libraries took 44 s of CPU so, 88 s in batches of 8 and about three times that file by
# file (scripts/test turns this on for its three trees). Off by default: the release build
# (the README's first command, scripts/bench) compiles each file on its own, which also shows
# an include a file forgot. A helper in a file's anonymous namespace therefore needs a name no
# other file of its library uses.
option(FACTS_UNITY "Compile each library as one unity file" OFF)

function(facts_set_unity target)
  if(FACTS_UNITY)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 0)
  endif()
endfunction()
