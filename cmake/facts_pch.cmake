# Precompiled headers for the test executables: Catch2, nlohmann/json and Beast's message types
# are what every test file parses, and under the sanitizers parsing them again per file cost
# more than compiling the tests themselves. The first target to ask builds the header; the
# others reuse it (the test targets share their flags). -DFACTS_PCH=OFF compiles without it,
# which also shows an include a test file forgot.
option(FACTS_PCH "Precompile the headers every test file includes" ON)
set_property(GLOBAL PROPERTY facts_test_pch_owner "")

function(facts_use_test_pch target)
  if(NOT FACTS_PCH)
    return()
  endif()
  get_property(owner GLOBAL PROPERTY facts_test_pch_owner)
  if(owner STREQUAL "")
    target_precompile_headers(${target} PRIVATE
      <catch2/catch.hpp>
      <nlohmann/json.hpp>
      <boost/beast/http/message.hpp>
      <boost/beast/http/string_body.hpp>
      <chrono>
      <string>
      <string_view>
      <thread>
      <vector>)
    set_property(GLOBAL PROPERTY facts_test_pch_owner ${target})
  else()
    target_precompile_headers(${target} REUSE_FROM ${owner})
  endif()
endfunction()
