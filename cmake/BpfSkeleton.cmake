# bpf_skeleton(<name> SOURCE <file.bpf.c> [INCLUDES dir...])
#
# Compiles a BPF object with clang (-g -O2 -target bpf, CO-RE relocations from -g BTF), tracks the headers it
# includes through a depfile, and generates <name>.skel.h with `bpftool gen skeleton`. The skeleton embeds the
# object, so the programs that include it carry their BPF code inside the binary. Yields the INTERFACE target
# <name>_skel whose include directory holds the skeleton.
find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

function(bpf_skeleton name)
  cmake_parse_arguments(ARG "" "SOURCE" "INCLUDES" ${ARGN})
  if(NOT ARG_SOURCE)
    message(FATAL_ERROR "bpf_skeleton(${name}): SOURCE is required")
  endif()
  get_filename_component(src "${ARG_SOURCE}" ABSOLUTE)
  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/skel")
  set(obj "${out_dir}/${name}.bpf.o")
  set(skel "${out_dir}/${name}.skel.h")
  set(dep "${out_dir}/${name}.bpf.d")
  set(inc_flags "")
  foreach(dir IN LISTS ARG_INCLUDES)
    list(APPEND inc_flags "-I${dir}")
  endforeach()
  string(TOUPPER "${CMAKE_BUILD_TYPE}" build_type)
  add_custom_command(
    OUTPUT "${obj}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${out_dir}"
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${ENOSPCD_BPF_ARCH}
            -Wall -Wno-unused-function -Werror
            ${inc_flags} -MD -MF "${dep}" -MT "${obj}"
            -c "${src}" -o "${obj}"
    DEPENDS "${src}"
    DEPFILE "${dep}"
    COMMENT "BPF ${name}.bpf.o"
    VERBATIM)
  # The skeleton is bpftool's code, between NOLINTBEGIN and NOLINTEND: clang-tidy reports nothing in it, also
  # not what the static analyzer finds on a path that starts in the project's code (calloc'd memory that
  # libbpf's bpf_object__destroy_skeleton frees is taken for a leak).
  add_custom_command(
    OUTPUT "${skel}"
    COMMAND ${CMAKE_COMMAND} -E echo "// NOLINTBEGIN" > "${skel}.tmp"
    COMMAND ${BPFTOOL} gen skeleton "${obj}" name ${name}_bpf >> "${skel}.tmp"
    COMMAND ${CMAKE_COMMAND} -E echo "// NOLINTEND" >> "${skel}.tmp"
    COMMAND ${CMAKE_COMMAND} -E rename "${skel}.tmp" "${skel}"
    DEPENDS "${obj}"
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS "${skel}" "${obj}")
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE "${out_dir}")
  set_property(TARGET ${name}_skel PROPERTY BPF_OBJECT "${obj}")
  set(${name}_BPF_OBJECT "${obj}" PARENT_SCOPE)
endfunction()
