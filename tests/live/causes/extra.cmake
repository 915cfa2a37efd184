# The cause tests run tests/programs/enospc_trigger. tests/CMakeLists.txt is to add the programs directory
# (add_subdirectory(programs), before the live tests); until it does, add it from here.
if(NOT TARGET enospc_trigger)
  add_subdirectory(${PROJECT_SOURCE_DIR}/tests/programs ${PROJECT_BINARY_DIR}/tests/programs)
endif()
add_dependencies(${exe} enospc_trigger)
target_compile_definitions(${exe} PRIVATE ENOSPC_TRIGGER="$<TARGET_FILE:enospc_trigger>")
target_link_libraries(${exe} PRIVATE enospcd_diagnose)
