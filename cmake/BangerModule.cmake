# banger_module(<name> SOURCES ... DEPS ... TESTS ... [TEST_DEPS ...])
# One static library per folder under src/banger/<name>, aliased banger::<name>.
# DEPS are linked PUBLIC; the layering check (tools/check_layering.py) reads them
# from these calls, so list every banger module a folder includes.
function(banger_module name)
  cmake_parse_arguments(arg "" "" "SOURCES;DEPS;TESTS;TEST_DEPS" ${ARGN})
  if(arg_SOURCES)
    add_library(banger_${name} STATIC ${arg_SOURCES})
    target_include_directories(banger_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(banger_${name} PUBLIC ${arg_DEPS} PRIVATE banger_warnings)
  else()
    add_library(banger_${name} INTERFACE)
    target_include_directories(banger_${name} INTERFACE ${PROJECT_SOURCE_DIR}/src)
    target_link_libraries(banger_${name} INTERFACE ${arg_DEPS})
  endif()
  add_library(banger::${name} ALIAS banger_${name})
  if(arg_TESTS AND BUILD_TESTING)
    add_executable(banger_${name}_tests ${arg_TESTS})
    target_link_libraries(banger_${name}_tests PRIVATE banger::${name} banger::testkit
      ${arg_TEST_DEPS} GTest::gmock_main banger_warnings)
    gtest_discover_tests(banger_${name}_tests
      PROPERTIES LABELS unit SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]"
      DISCOVERY_TIMEOUT 30)
  endif()
endfunction()
