# ---- wow-action-proxy: the baselines' action proxy ----------------------------
# wow_eval_process (native_process.h): runs a program to completion with stdin,
# captured output, a deadline that kills its process group, and its CPU time.
add_library(wow_eval_process STATIC native_process.cc)
target_link_libraries(wow_eval_process PUBLIC wow::common PRIVATE wow_warnings)
target_include_directories(wow_eval_process PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
# bench_support's RunNative (engine_bench, the harness) spawns through it too,
# so every native figure pays the same spawn path (defined in bench/).
target_link_libraries(wow_bench_support PRIVATE wow_eval_process)

# OpenWhisk's action-runtime protocol for a native executable run once per
# /run, like the dockerskeleton image (usage at the top of action_proxy.cc).
# The harness copies it and its shared libraries (ldd) into the Docker rootfs.
add_executable(wow_action_proxy action_proxy.cc)
target_link_libraries(wow_action_proxy PRIVATE
  wow_eval_process wow::http wow::common CLI11::CLI11 Threads::Threads wow_warnings)
set_target_properties(wow_action_proxy PROPERTIES
  OUTPUT_NAME wow-action-proxy
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})

wow_test(native_process_test SOURCES native_process_test.cc LIBS wow_eval_process)

# Starts the real binary; uses the examples' native builds.
wow_test(action_proxy_test SOURCES action_proxy_test.cc LIBS wow_eval_process wow::http wow::common)
if(TARGET action_proxy_test)
  add_dependencies(action_proxy_test wow_action_proxy)
  if(TARGET examples)
    add_dependencies(action_proxy_test examples)
  endif()
  target_compile_definitions(action_proxy_test PRIVATE WOW_ACTION_PROXY="$<TARGET_FILE:wow_action_proxy>")
endif()
