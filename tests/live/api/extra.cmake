# The live tests drive the real client binary and need the client library's helpers.
target_link_libraries(${exe} PRIVATE enospcctl_core)
if(TARGET enospcctl)
  add_dependencies(${exe} enospcctl)
  target_compile_definitions(${exe} PRIVATE ENOSPCCTL_PATH="$<TARGET_FILE:enospcctl>")
endif()
