# The journal is part of enospcd_store; there is no enospcd_journal target.
target_link_libraries(${exe} PRIVATE enospcd_store)
