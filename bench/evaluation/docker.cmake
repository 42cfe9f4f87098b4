# Real Docker for the evaluation: a private dockerd, an Engine API client over its unix socket, rootfs tarballs
# for `docker import`, and per-container memory from cgroups (docker.h, rootfs.h).
add_library(wow_eval_docker STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/docker.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/rootfs.cc
)
target_include_directories(wow_eval_docker PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(wow_eval_docker PUBLIC wow::common wow::http Boost::headers Boost::json Threads::Threads
  PRIVATE wow_warnings)

# The integration test starts a private dockerd and skips (with the reason) where it cannot.
wow_test(docker_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/docker_test.cc LIBS wow_eval_docker)
