# bpf_object(NAME SOURCE [DEPENDS hdr...])
#
# Compiles bpf/<SOURCE> with clang -target bpf (CO-RE, BTF), generates its libbpf
# skeleton with bpftool into the build dir and exposes it as the INTERFACE target
# `NAME_skel` (include "NAME.skel.h"). Every header and source under bpf/ and
# include/palisade/ is a dependency (a source may include others), so editing the
# shared ABI header rebuilds the object.
find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

# bpf_tracing.h's __TARGET_ARCH_<arch>, by the architecture the agent is built
# for (libbpf-bootstrap's mapping): the PT_REGS and syscall argument macros
# depend on it. The kernel types too: bpf/vmlinux.h says which kernel and
# architecture it was dumped from, and another architecture needs its own.
string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" PALISADE_BPF_PROCESSOR)
if(PALISADE_BPF_PROCESSOR MATCHES "^(x86_64|amd64)$")
    set(PALISADE_BPF_ARCH x86)
elseif(PALISADE_BPF_PROCESSOR MATCHES "^(aarch64|arm64)")
    set(PALISADE_BPF_ARCH arm64)
elseif(PALISADE_BPF_PROCESSOR MATCHES "^arm")
    set(PALISADE_BPF_ARCH arm)
elseif(PALISADE_BPF_PROCESSOR MATCHES "^(ppc64|ppc64le|powerpc64|powerpc64le)$")
    set(PALISADE_BPF_ARCH powerpc)
elseif(PALISADE_BPF_PROCESSOR MATCHES "^s390")
    set(PALISADE_BPF_ARCH s390)
elseif(PALISADE_BPF_PROCESSOR MATCHES "^riscv")
    set(PALISADE_BPF_ARCH riscv)
elseif(PALISADE_BPF_PROCESSOR MATCHES "^(loongarch64|loongarch)")
    set(PALISADE_BPF_ARCH loongarch)
elseif(PALISADE_BPF_PROCESSOR MATCHES "^mips")
    set(PALISADE_BPF_ARCH mips)
else()
    message(FATAL_ERROR "BPF: no __TARGET_ARCH for processor ${CMAKE_SYSTEM_PROCESSOR}")
endif()
message(STATUS "BPF objects for __TARGET_ARCH_${PALISADE_BPF_ARCH} (${CMAKE_SYSTEM_PROCESSOR})")

file(GLOB PALISADE_BPF_HEADERS CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/bpf/*.h ${PROJECT_SOURCE_DIR}/bpf/*.c
     ${PROJECT_SOURCE_DIR}/include/palisade/*.h)

function(bpf_object NAME SOURCE)
    set(obj ${CMAKE_CURRENT_BINARY_DIR}/bpf/${NAME}.bpf.o)
    set(skel ${CMAKE_CURRENT_BINARY_DIR}/bpf/${NAME}.skel.h)
    add_custom_command(
        OUTPUT ${obj}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/bpf
        COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${PALISADE_BPF_ARCH}
                -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
                -I${PROJECT_SOURCE_DIR}/bpf -I${PROJECT_SOURCE_DIR}/include
                -c ${PROJECT_SOURCE_DIR}/bpf/${SOURCE} -o ${obj}
        DEPENDS ${PROJECT_SOURCE_DIR}/bpf/${SOURCE} ${PALISADE_BPF_HEADERS}
        COMMENT "BPF ${SOURCE}"
        VERBATIM)
    add_custom_command(
        OUTPUT ${skel}
        COMMAND ${BPFTOOL} gen skeleton ${obj} name ${NAME} > ${skel}
        DEPENDS ${obj}
        COMMENT "skeleton ${NAME}.skel.h"
        VERBATIM)
    add_custom_target(${NAME}_skel_gen DEPENDS ${skel})
    add_library(${NAME}_skel INTERFACE)
    add_dependencies(${NAME}_skel ${NAME}_skel_gen)
    target_include_directories(${NAME}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR}/bpf)
endfunction()
