# Install-time half of deploy/CMakeLists.txt. The checked-in unit and configuration
# are those of --prefix /usr; for another prefix the paths they name are rewritten.
# An operator's configuration and policies are never overwritten by a reinstall or
# an upgrade: the examples go only where no file is yet.

set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr")
    set(confdir "/etc/palisade")  # as GNUInstallDirs does for /usr
else()
    set(confdir "${prefix}/etc/palisade")
endif()
set(unitdir "${PALISADE_SYSTEMD_UNITDIR}")
if(NOT unitdir)
    set(unitdir "${prefix}/lib/systemd/system")
endif()
set(stage "${PALISADE_STAGE_DIR}")

function(rewrite source output)
    file(READ "${source}" text)
    string(REPLACE "/usr/sbin/palisade" "${prefix}/${PALISADE_SBINDIR}/palisade" text "${text}")
    string(REPLACE "/usr/share/doc/palisade" "${prefix}/${PALISADE_DOCDIR}" text "${text}")
    string(REPLACE "/etc/palisade/" "${confdir}/" text "${text}")
    file(WRITE "${output}" "${text}")
endfunction()

function(install_once source destdir)
    get_filename_component(name "${source}" NAME)
    if(EXISTS "$ENV{DESTDIR}${destdir}/${name}")
        message(STATUS "Kept (exists): $ENV{DESTDIR}${destdir}/${name}")
    else()
        file(INSTALL "${source}" DESTINATION "${destdir}"
             FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
    endif()
endfunction()

rewrite("${PALISADE_SOURCE_DIR}/systemd/palisade.service" "${stage}/palisade.service")
rewrite("${PALISADE_SOURCE_DIR}/deploy/etc/palisade/palisade.yaml" "${stage}/palisade.yaml")
# podman and CRI-O read <datadir>/containers/oci/hooks.d when the prefix is /usr (and
# /etc/containers/oci/hooks.d, where an operator's file of the same name masks this one).
rewrite("${PALISADE_SOURCE_DIR}/deploy/oci-hooks.d/palisade.json" "${stage}/palisade.json")
file(INSTALL "${stage}/palisade.json"
     DESTINATION "${prefix}/${PALISADE_DATADIR}/containers/oci/hooks.d")
file(INSTALL "${stage}/palisade.service" DESTINATION "${unitdir}")
install_once("${stage}/palisade.yaml" "${confdir}")
install_once("${PALISADE_SOURCE_DIR}/deploy/etc/palisade/policies.d/default.yaml"
             "${confdir}/policies.d")
