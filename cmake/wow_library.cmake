# wow_test(NAME SOURCES... LIBS ...) adds a GoogleTest executable registered
# with CTest. Tests live next to their code as foo_test.cc.
function(wow_test name)
  if(NOT WOW_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main GTest::gmock wow_warnings)
  # Generated AoT artifacts resolve wasm_rt_* against the test binary.
  set_target_properties(${name} PROPERTIES ENABLE_EXPORTS ON)
  target_compile_definitions(${name} PRIVATE
    WOW_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    WOW_BINARY_DIR="${PROJECT_BINARY_DIR}")
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 600)
endfunction()
