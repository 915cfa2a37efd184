# The client's formatting and HTTP code live in enospcctl_core (src/cli); the API unit tests cover it too.
target_link_libraries(${exe} PRIVATE enospcctl_core)
