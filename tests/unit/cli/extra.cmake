# enospcctl's formatting and HTTP helpers (src/cli); the fake backend's event builder needs the API headers.
target_link_libraries(${exe} PRIVATE enospcctl_core enospcd_api)
