# Cross build for arm64 on a Debian x86_64 host with Debian's multiarch packages: the cross compiler
# (g++-aarch64-linux-gnu) and the arm64 -dev packages (libbpf-dev:arm64, ...), which install their headers and
# libraries under the multiarch paths /usr/include/aarch64-linux-gnu and /usr/lib/aarch64-linux-gnu beside the
# host's (scripts/build-arm64.sh installs them). clang and bpftool stay host tools: the BPF objects are
# compiled for the BPF target against bpf/vmlinux/arm64/vmlinux.h.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# pkg-config and find_package() see the arm64 packages only: .pc files and CMake package configs under the
# multiarch directory, plus the architecture-independent ones (header-only libraries such as nlohmann-json
# and CLI11).
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
# Programs built for the target run on this host through qemu-user when it is installed (try_run, tests).
find_program(ENOSPCD_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(ENOSPCD_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${ENOSPCD_QEMU_AARCH64})
endif()
# Debian package of the target architecture.
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
