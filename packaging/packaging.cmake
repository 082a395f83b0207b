# Installation and the Debian package. `cmake --install` puts the binary, the systemd unit, an
# example environment file, the README and docs/ under the prefix (GNUInstallDirs); `cpack -G
# DEB` in the build folder packs the same tree for /usr, and dpkg-shlibdeps reads its
# dependencies from the binary's shared libraries. packaging/build-deb does both in one command.

include(GNUInstallDirs)
# Installing and packing take what is built and build nothing: `cpack` would otherwise first
# build every target of the tree (tests and benchmarks too). packaging/build-deb builds first.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

install(TARGETS factsd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/LICENSE
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
# The README's longer documents, beside it, so its docs/ links work in the installed folder.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs
        FILES_MATCHING PATTERN "*.md")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/deploy/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
# The unit and the environment file name paths that depend on the prefix given at install time
# (cmake --install --prefix, or cpack's /usr), so they are written then.
install(CODE "set(FACTS_PACKAGING_DIR \"${CMAKE_CURRENT_LIST_DIR}\")
set(FACTS_GENERATED_DIR \"${CMAKE_CURRENT_BINARY_DIR}/packaging\")
set(FACTS_DOCDIR_REL \"${CMAKE_INSTALL_DOCDIR}\")")
install(SCRIPT ${CMAKE_CURRENT_LIST_DIR}/install_service.cmake)

set(CPACK_PACKAGE_NAME factsd)
set(CPACK_PACKAGE_VENDOR "factsd")
set(CPACK_PACKAGE_CONTACT "factsd maintainers <factsd@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Server-Sent Events facts server")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
# Install with DESTDIR and the prefix /usr (whatever CMAKE_INSTALL_PREFIX is), so that the unit
# names /usr/bin/factsd and /etc/default/factsd stays in /etc.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The unit's ExecReload= runs /bin/kill, which procps ships (important, not essential); the
# shared libraries' packages are added to it.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "procps")
# The environment file is the admin's: an upgrade keeps their edits.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/packaging/conffiles "/etc/default/factsd\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_BINARY_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
