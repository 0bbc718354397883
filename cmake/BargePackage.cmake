# Debian packages with CPack: `cmake --build build --target package` writes
# barge_<version>_<arch>.deb and barged_<version>_<arch>.deb into the build
# directory, from the install components of BargeInstall.  Dependencies are
# computed from the binaries by dpkg-shlibdeps, never typed by hand.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME barge)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "The Barge authors")
set(CPACK_PACKAGE_CONTACT "Barge maintainers <barge@example.org>")
# Where the source lives: the packages' Homepage and the image's
# org.opencontainers.image.source label.
set(BARGE_SOURCE_URL "https://github.com/barge-dev/barge" CACHE STRING "the project's source URL")
set(CPACK_PACKAGE_HOMEPAGE_URL ${BARGE_SOURCE_URL})
set(CPACK_COMPONENTS_ALL barge barged)
set(CPACK_DEB_COMPONENT_INSTALL ON)
# The packages' prefix is /usr whatever the build's is; with DESTDIR set,
# BargeInstall puts /etc and /lib/systemd at the root, as Debian wants.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Debian ships stripped binaries (lintian: unstripped-binary-or-object).
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)

set(CPACK_DEBIAN_BARGE_PACKAGE_NAME barge)
set(CPACK_DEBIAN_BARGE_PACKAGE_SECTION devel)
set(CPACK_COMPONENT_BARGE_DESCRIPTION
  "build signed bundles of container images for offline clusters
barge reads cluster profiles, pins every image they name to a digest,
pulls the images from their registries and writes one signed,
reproducible zstd bundle, or ISO install media holding bundles, for
barged to load on an offline edge host.")

set(CPACK_DEBIAN_BARGED_PACKAGE_NAME barged)
set(CPACK_COMPONENT_BARGED_DESCRIPTION
  "edge registry serving bundles of container images
barged loads bundles written by barge into a content-addressed store,
serves them over the OCI Distribution API on port 30003 and swaps the
images of Kubernetes pods to itself with an admission webhook.  The
service barged.service is enabled at installation; its configuration is
/etc/barge/barged.yaml and its store /var/lib/barge, which purging the
package leaves.")
set(BARGE_PKG_DIR ${CMAKE_SOURCE_DIR}/packaging/debian)
set(CPACK_DEBIAN_BARGED_PACKAGE_CONTROL_EXTRA
  ${BARGE_PKG_DIR}/conffiles ${BARGE_PKG_DIR}/postinst ${BARGE_PKG_DIR}/prerm
  ${BARGE_PKG_DIR}/postrm)
set(CPACK_DEBIAN_BARGED_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

include(CPack)

# The barged container image, without Docker: build/barged-image.tar, an
# OCI archive tagged barged:<version> (scripts/barged-image says what is in
# it).  Always rebuilt, so that SOURCE_DATE_EPOCH from the environment
# counts; the same binary and epoch give the same digest.
add_custom_target(barged-image
  COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/barged-image $<TARGET_FILE:barged>
    ${PROJECT_VERSION} ${BARGE_SOURCE_URL} ${CMAKE_BINARY_DIR}/barged-image.tar
  DEPENDS barged
  COMMENT "barged-image.tar (OCI archive)" VERBATIM)
