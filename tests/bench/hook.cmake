# Used by scripts/bench.sh as CMAKE_PROJECT_INCLUDE while tests/CMakeLists.txt does not add this directory yet:
# once the whole project is configured (enospcd_loader exists by then), includes tests/bench/CMakeLists.txt.
function(enospcd_bench_add)
  if(NOT TARGET enospcd-bench)
    include(${CMAKE_SOURCE_DIR}/tests/bench/CMakeLists.txt)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL enospcd_bench_add)
