# wow_eval_report: the evaluation's pure building blocks — statistics
# (stats.h), workload generators (workload.h), and output: CSV/JSON, gnuplot
# figures, Markdown, machine info and progress (report.h), the machine's load
# around each experiment (machine_load.h).
add_library(wow_eval_report STATIC
  ${CMAKE_CURRENT_LIST_DIR}/stats.cc
  ${CMAKE_CURRENT_LIST_DIR}/workload.cc
  ${CMAKE_CURRENT_LIST_DIR}/report.cc
  ${CMAKE_CURRENT_LIST_DIR}/machine_load.cc)
target_link_libraries(wow_eval_report
  PUBLIC wow_load_stats wow::common Boost::json Threads::Threads
  PRIVATE wow_warnings)
target_include_directories(wow_eval_report PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})

wow_test(eval_report_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/stats_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/workload_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/report_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/machine_load_test.cc
  LIBS wow_eval_report)
