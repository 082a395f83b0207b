# Precompiled headers for the test executables: Catch2, nlohmann/json and Beast's message types
# are what every test file parses, and under the sanitizers parsing them again per file cost
# more than compiling the tests themselves. -DFACTS_PCH=OFF compiles without it, which also
# shows an include a test file forgot.
option(FACTS_PCH "Precompile the headers every test file includes" ON)

# The header is built by a target of its own, which compiles nothing else: a test executable
# that owned it made every other one wait until it was compiled and linked (REUSE_FROM depends
# on the whole target), and in the TSan tree the integration tests then compiled alone on one
# core. The owner takes the test executables' flags from facts_test_support, as they do.
function(facts_add_test_pch_owner)
  if(NOT FACTS_PCH)
    return()
  endif()
  set(source ${CMAKE_CURRENT_BINARY_DIR}/facts_test_pch.cpp)
  file(CONFIGURE OUTPUT ${source} CONTENT "// The owner of the tests' precompiled header.\n")
  add_library(facts_test_pch OBJECT ${source})
  target_link_libraries(facts_test_pch PRIVATE facts_test_support Catch2::Catch2)
  facts_set_warnings(facts_test_pch)
  facts_set_sanitizers(facts_test_pch)
  target_precompile_headers(facts_test_pch PRIVATE
    <catch2/catch.hpp>
    <nlohmann/json.hpp>
    <boost/beast/http/message.hpp>
    <boost/beast/http/string_body.hpp>
    <chrono>
    <string>
    <string_view>
    <thread>
    <vector>)
endfunction()

function(facts_use_test_pch target)
  if(FACTS_PCH)
    target_precompile_headers(${target} REUSE_FROM facts_test_pch)
  endif()
endfunction()
