# Runs at install time (cmake --install, cpack), when the prefix is known for sure: the unit names
# the binary where it really lands, and the environment file goes where that prefix keeps
# configuration: /etc for /usr (as GNUInstallDirs has it, and Debian), PREFIX/etc otherwise.
# Set by packaging.cmake before this runs: FACTS_PACKAGING_DIR, FACTS_GENERATED_DIR,
# FACTS_DOCDIR_REL.

set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr")
  set(sysconf "/etc")
else()
  set(sysconf "${prefix}/etc")
endif()
set(FACTS_BINARY "${prefix}/bin/factsd")
set(FACTS_ENV_FILE "${sysconf}/default/factsd")
set(FACTS_DOC_DIR "${prefix}/${FACTS_DOCDIR_REL}")

set(unit "${FACTS_GENERATED_DIR}/factsd.service")
configure_file("${FACTS_PACKAGING_DIR}/factsd.service.in" "${unit}" @ONLY)
# The backup beside it: a oneshot service and the timer that starts it (not enabled).
set(backup_unit "${FACTS_GENERATED_DIR}/factsd-backup.service")
configure_file("${FACTS_PACKAGING_DIR}/factsd-backup.service.in" "${backup_unit}" @ONLY)
file(INSTALL DESTINATION "${prefix}/lib/systemd/system" TYPE FILE
     FILES "${unit}" "${backup_unit}" "${FACTS_PACKAGING_DIR}/factsd-backup.timer")
file(INSTALL DESTINATION "${sysconf}/default" TYPE FILE
     FILES "${FACTS_PACKAGING_DIR}/factsd.env" RENAME factsd)
