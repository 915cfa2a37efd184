# The loader's own live test (kernel_memory_live_test.cpp) drives GateTracer directly.
target_link_libraries(${exe} PRIVATE enospcd_loader)
