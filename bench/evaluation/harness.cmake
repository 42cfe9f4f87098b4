# ---- evaluate: the platforms and the experiments ------------------------------
# The platforms (pool.h: OpenWhisk's invoker model over Docker, process and
# wow executor backends; wow serve over its REST API), the experiments and
# their outputs; the deploy experiment's modules come from wow::wasm_testing. It loads AoT artifacts for the CPU-speed experiment, so it is
# a wow_bench_program (artifacts resolve wasm_rt_* against it).
add_library(wow_eval_harness STATIC
  ${CMAKE_CURRENT_LIST_DIR}/service_process.cc
  ${CMAKE_CURRENT_LIST_DIR}/pool.cc
  ${CMAKE_CURRENT_LIST_DIR}/backends.cc
  ${CMAKE_CURRENT_LIST_DIR}/experiments.cc
  ${CMAKE_CURRENT_LIST_DIR}/outputs.cc)
target_link_libraries(wow_eval_harness
  PUBLIC wow_eval_report wow_eval_docker wow_eval_process wow_bench_support wow::http wow::common
         wow::abi wow::wasm fmt::fmt Threads::Threads
  PRIVATE wow::wasm_testing wow_warnings)
target_include_directories(wow_eval_harness PUBLIC ${CMAKE_CURRENT_LIST_DIR})

wow_bench_program(evaluate ${CMAKE_CURRENT_LIST_DIR}/evaluate.cc wow_eval_harness CLI11::CLI11)
set_target_properties(evaluate PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
add_dependencies(evaluate wow_action_proxy)
if(TARGET wow)
  add_dependencies(evaluate wow)
endif()
target_compile_definitions(evaluate PRIVATE WOW_ACTION_PROXY="$<TARGET_FILE:wow_action_proxy>")

# The smoke run: the whole harness with tiny counts, every output file
# checked; the Docker part is skipped, and says so, where dockerd cannot start.
if(WOW_BUILD_TESTS)
  add_test(NAME evaluation_smoke_test
    COMMAND "${CMAKE_CURRENT_LIST_DIR}/evaluation_smoke_test.sh" $<TARGET_FILE:evaluate>)
  set_tests_properties(evaluation_smoke_test PROPERTIES TIMEOUT 900)
endif()

# Unit tests of the harness: the invoker model (pool.h) over a fake backend of
# in-process HTTP servers, and the outputs (outputs.h) on hand-made results.
wow_test(pool_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/pool_test.cc LIBS wow_eval_harness)
wow_test(outputs_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/outputs_test.cc LIBS wow_eval_harness)
wow_test(experiments_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/experiments_test.cc LIBS wow_eval_harness)
