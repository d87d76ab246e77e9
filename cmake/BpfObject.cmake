# bpf_object(NAME SOURCE [DEPENDS hdr...])
#
# Compiles bpf/<SOURCE> with clang -target bpf (CO-RE, BTF), generates its libbpf
# skeleton with bpftool into the build dir and exposes it as the INTERFACE target
# `NAME_skel` (include "NAME.skel.h"). Every header and source under bpf/ and
# include/palisade/ is a dependency (a source may include others), so editing the
# shared ABI header rebuilds the object.
find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

file(GLOB PALISADE_BPF_HEADERS CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/bpf/*.h ${PROJECT_SOURCE_DIR}/bpf/*.c
     ${PROJECT_SOURCE_DIR}/include/palisade/*.h)

function(bpf_object NAME SOURCE)
    set(obj ${CMAKE_CURRENT_BINARY_DIR}/bpf/${NAME}.bpf.o)
    set(skel ${CMAKE_CURRENT_BINARY_DIR}/bpf/${NAME}.skel.h)
    add_custom_command(
        OUTPUT ${obj}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/bpf
        COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_x86
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
