# Install rules for `cmake --install` and the .deb packages (BargePackage):
# two components, barge (the CI-side bundler) and barged (the edge daemon),
# with their man pages, docs, the systemd unit and the example config.
#
# /etc and /lib/systemd are not under /usr on Debian: with the prefix /usr
# (the packages' prefix) they go to /etc and /lib, as GNUInstallDirs does
# for SYSCONFDIR; under any other prefix (/usr/local, a test's temporary
# root) they stay inside it.  The prefix is only known at install time
# (`cmake --install --prefix`, CPack), so the unit's path to barged is
# substituted then too, by configure_file in the install script.
include(GNUInstallDirs)

# Man pages: scdoc sources in docs/man, built into build/man and gzipped as
# Debian wants them.  Without scdoc the build goes on without man pages.
find_program(BARGE_SCDOC scdoc)
find_program(BARGE_GZIP gzip)
set(BARGE_MAN_PAGES barge.1 barge-profile.5 barged.8 barged.yaml.5)
set(BARGE_MAN_DIR ${CMAKE_BINARY_DIR}/man)
if(BARGE_SCDOC AND BARGE_GZIP)
  set(outs)
  foreach(page ${BARGE_MAN_PAGES})
    set(src ${CMAKE_SOURCE_DIR}/docs/man/${page}.scd)
    add_custom_command(OUTPUT ${BARGE_MAN_DIR}/${page}.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${BARGE_MAN_DIR}
      COMMAND ${BARGE_SCDOC} < ${src} > ${BARGE_MAN_DIR}/${page}
      COMMAND ${BARGE_GZIP} -9nf ${BARGE_MAN_DIR}/${page}
      DEPENDS ${src}
      COMMENT "scdoc ${page}" VERBATIM)
    list(APPEND outs ${BARGE_MAN_DIR}/${page}.gz)
  endforeach()
  add_custom_target(barge-man ALL DEPENDS ${outs})
  install(FILES ${BARGE_MAN_DIR}/barge.1.gz
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT barge)
  install(FILES ${BARGE_MAN_DIR}/barge-profile.5.gz
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man5 COMPONENT barge)
  install(FILES ${BARGE_MAN_DIR}/barged.yaml.5.gz
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man5 COMPONENT barged)
  install(FILES ${BARGE_MAN_DIR}/barged.8.gz
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man8 COMPONENT barged)
else()
  message(WARNING "scdoc or gzip not found: no man pages (apt-get install scdoc)")
endif()

# Docs: the bundler's package carries the whole documentation, barged's
# what an operator of the edge host reads.  Each package's doc folder has
# the copyright and changelog Debian requires.
file(GLOB BARGE_DOCS ${CMAKE_SOURCE_DIR}/docs/*.md)
list(REMOVE_ITEM BARGE_DOCS ${CMAKE_SOURCE_DIR}/docs/CODE_STYLE.md)
set(BARGE_PKG_DIR ${CMAKE_SOURCE_DIR}/packaging/debian)
configure_file(${BARGE_PKG_DIR}/changelog.in ${CMAKE_BINARY_DIR}/packaging/changelog @ONLY)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/packaging/changelog.gz
  COMMAND ${BARGE_GZIP} -9nkf ${CMAKE_BINARY_DIR}/packaging/changelog
  DEPENDS ${CMAKE_BINARY_DIR}/packaging/changelog VERBATIM)
add_custom_target(barge-changelog ALL DEPENDS ${CMAKE_BINARY_DIR}/packaging/changelog.gz)
foreach(comp barge barged)
  install(FILES ${BARGE_PKG_DIR}/copyright
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${comp} COMPONENT ${comp})
  install(FILES ${CMAKE_BINARY_DIR}/packaging/changelog.gz
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${comp} COMPONENT ${comp})
endforeach()
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${BARGE_DOCS}
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/barge COMPONENT barge)
install(FILES ${CMAKE_SOURCE_DIR}/docs/operations.md ${CMAKE_SOURCE_DIR}/docs/configuration.md
  ${CMAKE_SOURCE_DIR}/docs/media-device.md ${CMAKE_SOURCE_DIR}/docs/registry-api.md
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/barged COMPONENT barged)
install(FILES ${CMAKE_SOURCE_DIR}/appliance/deploy/barged.yaml
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/barged/examples COMPONENT barged)

# The unit and /etc/barge/barged.yaml.  An operator's barged.yaml is never
# overwritten: an existing file is left as it is (the .deb marks it a
# conffile, so dpkg asks instead).
set(BARGE_DEPLOY ${CMAKE_SOURCE_DIR}/appliance/deploy)
install(CODE "
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(root \"\")
  else()
    set(root \"\${CMAKE_INSTALL_PREFIX}\")
  endif()
  set(BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  set(unit \"\$ENV{DESTDIR}\${root}/lib/systemd/system/barged.service\")
  message(STATUS \"Installing: \${unit}\")
  configure_file(\"${BARGE_DEPLOY}/barged.service.in\" \"\${unit}\" @ONLY)
  file(CHMOD \"\${unit}\" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  set(conf \"\$ENV{DESTDIR}\${root}/etc/barge/barged.yaml\")
  if(EXISTS \"\${conf}\")
    message(STATUS \"Keeping the existing \${conf}\")
  else()
    file(INSTALL \"${BARGE_DEPLOY}/barged.yaml\" DESTINATION \"\${root}/etc/barge\"
      PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
" COMPONENT barged)
