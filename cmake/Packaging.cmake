# The Debian package: `cpack -G DEB` in a build directory (or the `package`
# target) builds grpc-resilience_<version>_<arch>.deb with everything the
# install rules install, laid out for /usr (docs/packaging.md). Included
# from CMakeLists.txt after those rules, with the shim: it needs the
# libgrpc.so.29 found there (GRPCR_LIBGRPC, GRPCR_LIBGRPC_REAL).
#
# Depends pins the exact Debian version of the package that owns that
# libgrpc.so.29, read here with dpkg: the preload checks libgrpc's GNU build
# id (GRPCR_LIBGRPC_BUILD_ID, read from the same file) and refuses any other
# build, so the package must not promise more. dpkg-shlibdeps adds the rest
# of what the binaries link (libabsl, libprotobuf-c1, libmicrohttpd12, libc6,
# ...) in cmake/DebShlibdeps.cmake, leaving libgrpc to the pin.
# test/package/run.sh builds, checks and installs the package.

# The systemd drop-in example (examples/systemd/), with the preload's path
# for this build's libdir (the repository's copy is for amd64).
file(READ "${CMAKE_CURRENT_SOURCE_DIR}/examples/systemd/grpc-resilience.conf" _grpcr_dropin)
string(REPLACE "/usr/lib/x86_64-linux-gnu/" "/usr/${CMAKE_INSTALL_LIBDIR}/" _grpcr_dropin "${_grpcr_dropin}")
file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/examples/grpc-resilience.conf" "${_grpcr_dropin}")
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/examples/grpc-resilience.conf"
        DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/doc/grpc-resilience/examples")

# Everything below is the package's, and needs dpkg and the multiarch
# libdir; without them `cpack -G DEB` is not offered (one status line says
# why) and the build is otherwise unchanged.
set(GRPCR_DEB_MAINTAINER "grpc-resilience maintainers <maintainers@users.noreply.r-seed-6bd7e0b2.example>"
    CACHE STRING "Maintainer field of the Debian package")

function(grpcr_deb_unavailable)
  string(JOIN "" why ${ARGV})
  message(STATUS "Debian package: not available (no cpack -G DEB): ${why}")
endfunction()

find_program(GRPCR_DPKG_QUERY dpkg-query)
find_program(GRPCR_DPKG_SHLIBDEPS dpkg-shlibdeps)
if(NOT GRPCR_DPKG_QUERY OR NOT GRPCR_DPKG_SHLIBDEPS)
  grpcr_deb_unavailable("no dpkg-query or dpkg-shlibdeps (not a Debian system, or no dpkg-dev)")
  return()
endif()
if(CMAKE_VERSION VERSION_LESS 3.19)
  grpcr_deb_unavailable("CPack runs pre-build scripts (Depends) from CMake 3.19 on")
  return()
endif()
if(NOT CMAKE_LIBRARY_ARCHITECTURE OR
   NOT CMAKE_INSTALL_LIBDIR STREQUAL "lib/${CMAKE_LIBRARY_ARCHITECTURE}")
  grpcr_deb_unavailable("CMAKE_INSTALL_LIBDIR is '${CMAKE_INSTALL_LIBDIR}', not Debian's multiarch "
                        "lib/${CMAKE_LIBRARY_ARCHITECTURE}")
  return()
endif()

# The package that owns the libgrpc.so.29 this build uses (dpkg -S). dpkg
# knows a file by the path its package ships (/usr/lib/...), which a
# merged-/usr system also reaches as /lib/...: try both.
set(_grpcr_paths "${GRPCR_LIBGRPC}" "${GRPCR_LIBGRPC_REAL}")
foreach(_p IN ITEMS ${GRPCR_LIBGRPC} ${GRPCR_LIBGRPC_REAL})
  if(_p MATCHES "^/lib")
    list(APPEND _grpcr_paths "/usr${_p}")
  endif()
endforeach()
list(REMOVE_DUPLICATES _grpcr_paths)
set(GRPCR_LIBGRPC_DEB_PACKAGE "")
foreach(_p IN LISTS _grpcr_paths)
  execute_process(COMMAND "${GRPCR_DPKG_QUERY}" -S "${_p}" OUTPUT_VARIABLE _out
                  RESULT_VARIABLE _rc ERROR_QUIET)
  if(_rc EQUAL 0)
    string(REPLACE "\n" ";" _lines "${_out}")
    foreach(_line IN LISTS _lines)
      # "libgrpc29:amd64: /usr/lib/x86_64-linux-gnu/libgrpc.so.29.0.0";
      # diversion lines and shared paths (a, b: path) do not match.
      if(_line MATCHES "^([a-z0-9][a-z0-9+.-]+)(:[a-z0-9-]+)?: /")
        set(GRPCR_LIBGRPC_DEB_PACKAGE "${CMAKE_MATCH_1}")
        set(_grpcr_qualified "${CMAKE_MATCH_1}${CMAKE_MATCH_2}")
        set(_grpcr_owned "${_p}")
        break()
      endif()
    endforeach()
  endif()
  if(GRPCR_LIBGRPC_DEB_PACKAGE)
    break()
  endif()
endforeach()
if(NOT GRPCR_LIBGRPC_DEB_PACKAGE)
  grpcr_deb_unavailable("no installed Debian package owns ${GRPCR_LIBGRPC_REAL} "
                        "(dpkg -S), so Depends cannot pin the libgrpc the preload checks")
  return()
endif()
execute_process(COMMAND "${GRPCR_DPKG_QUERY}" -W "-f=\${db:Status-Status} \${Version}" "${_grpcr_qualified}"
                OUTPUT_VARIABLE _out RESULT_VARIABLE _rc ERROR_QUIET)
if(NOT _rc EQUAL 0 OR NOT _out MATCHES "^installed ([^ \n]+)$")
  grpcr_deb_unavailable("${_grpcr_qualified} (owner of ${_grpcr_owned}) is not installed: '${_out}'")
  return()
endif()
set(GRPCR_LIBGRPC_DEB_VERSION "${CMAKE_MATCH_1}")
set(GRPCR_LIBGRPC_DEB_DEPENDS "${GRPCR_LIBGRPC_DEB_PACKAGE} (= ${GRPCR_LIBGRPC_DEB_VERSION})")
message(STATUS "Debian package: Depends: ${GRPCR_LIBGRPC_DEB_DEPENDS} "
               "(owns ${_grpcr_owned}, build id ${GRPCR_LIBGRPC_BUILD_ID}) + dpkg-shlibdeps")

# Shared libraries: the loader cache is refreshed through libc-bin's
# ldconfig trigger, as debhelper does, not by maintainer scripts.
file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/deb-control/triggers" "activate-noawait ldconfig\n")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME grpc-resilience)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "${GRPCR_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "retries, retry budget and circuit breaker for gRPC C-core clients")
# One line per line of the control file (CPack indents them).
string(JOIN "\n" CPACK_PACKAGE_DESCRIPTION
  "grpc-resilience is a client filter for gRPC C-core (libgrpc.so.29, gRPC"
  "1.51.1) that gives every client channel jittered retries, a retry budget"
  "and a circuit breaker, configured through the service config, with"
  "per-channel counters served over gRPC and as Prometheus /metrics."
  ""
  "This package holds libgrpcr (link it and call grpcr_register()), its"
  "headers, CMake and pkg-config files, grpcr-stats, and libgrpcr_preload.so"
  "with grpcr-run, which put an existing program on a policy without a"
  "rebuild. The preload acts only on the exact libgrpc build it was made"
  "for, which this package depends on.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
# Depends: the pin, then dpkg-shlibdeps' findings without libgrpc, written
# by cmake/DebShlibdeps.cmake once the files are staged.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${GRPCR_LIBGRPC_DEB_DEPENDS}")
set(CPACK_GRPCR_DEB_PIN "${GRPCR_LIBGRPC_DEB_DEPENDS}")
set(CPACK_GRPCR_LIBGRPC_DEB_PACKAGE "${GRPCR_LIBGRPC_DEB_PACKAGE}")
set(CPACK_GRPCR_DPKG_SHLIBDEPS "${GRPCR_DPKG_SHLIBDEPS}")
set(CPACK_PRE_BUILD_SCRIPTS "${CMAKE_CURRENT_SOURCE_DIR}/cmake/DebShlibdeps.cmake")
# Building against the headers needs gRPC's and Abseil's pkg-config files.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libgrpc-dev, libabsl-dev, pkg-config")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA "${CMAKE_CURRENT_BINARY_DIR}/deb-control/triggers")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# `make package_source` must not sweep up build trees and the gRPC source.
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/\\\\.cache/" "/build[^/]*/" "/_CPack_Packages/"
    "/node_modules/")
include(CPack)
