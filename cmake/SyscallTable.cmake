# Generates the syscall-name and errno-name tables at build time from the kernel UAPI headers installed on the
# build machine (Debian's linux-libc-dev), so names never depend on a runtime tool such as ausyscall.
set(ENOSPCD_UAPI_X86_64 "/usr/include/x86_64-linux-gnu/asm/unistd_64.h" CACHE FILEPATH "x86_64 unistd_64.h")
set(ENOSPCD_UAPI_GENERIC "/usr/include/asm-generic/unistd.h" CACHE FILEPATH "asm-generic unistd.h (aarch64)")
set(ENOSPCD_UAPI_ERRNO_BASE "/usr/include/asm-generic/errno-base.h" CACHE FILEPATH "errno-base.h")
set(ENOSPCD_UAPI_ERRNO "/usr/include/asm-generic/errno.h" CACHE FILEPATH "errno.h")

function(generate_name_tables out)
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND}
            -DX86_64=${ENOSPCD_UAPI_X86_64} -DGENERIC=${ENOSPCD_UAPI_GENERIC}
            -DERRNO_BASE=${ENOSPCD_UAPI_ERRNO_BASE} -DERRNO=${ENOSPCD_UAPI_ERRNO}
            -DOUT=${out} -P ${PROJECT_SOURCE_DIR}/cmake/gen_name_tables.cmake
    DEPENDS ${PROJECT_SOURCE_DIR}/cmake/gen_name_tables.cmake ${ENOSPCD_UAPI_X86_64} ${ENOSPCD_UAPI_GENERIC}
            ${ENOSPCD_UAPI_ERRNO_BASE} ${ENOSPCD_UAPI_ERRNO}
    COMMENT "syscall and errno name tables from UAPI headers"
    VERBATIM)
endfunction()
