# CPack pre-build script of the Debian package (cmake/Packaging.cmake): run
# by cpack after the files are installed into the staging directory
# (CPACK_TEMPORARY_DIRECTORY) and before the .deb is made. It writes
# Depends: the exact libgrpc pin (CPACK_GRPCR_DEB_PIN) and what
# dpkg-shlibdeps finds for the staged ELF files, with the libgrpc package
# left out of the latter (-x), so that the pin is the only libgrpc relation.
#
# In place of CPackDeb's own CPACK_DEBIAN_PACKAGE_SHLIBDEPS, which would add
# `libgrpc29 (>= 1.51.1)` beside the pin and maintainer scripts that run
# ldconfig (the package declares libc-bin's ldconfig trigger instead).
if(NOT CPACK_GENERATOR STREQUAL "DEB")
  return()
endif()
foreach(v CPACK_GRPCR_DEB_PIN CPACK_GRPCR_LIBGRPC_DEB_PACKAGE CPACK_GRPCR_DPKG_SHLIBDEPS)
  if(NOT ${v})
    message(FATAL_ERROR "grpc-resilience DEB: ${v} is not set (cmake/Packaging.cmake)")
  endif()
endforeach()

# The staged ELF files (regular files starting with \x7fELF).
file(GLOB_RECURSE _files LIST_DIRECTORIES false "${CPACK_TEMPORARY_DIRECTORY}/*")
set(_elf "")
foreach(f IN LISTS _files)
  if(NOT IS_SYMLINK "${f}")
    file(READ "${f}" _magic LIMIT 4 HEX)
    if(_magic STREQUAL "7f454c46")
      list(APPEND _elf "${f}")
    endif()
  endif()
endforeach()
if(NOT _elf)
  message(FATAL_ERROR "grpc-resilience DEB: no ELF file in ${CPACK_TEMPORARY_DIRECTORY}")
endif()

# dpkg-shlibdeps wants a debian/control in its working directory: a scratch
# one beside the staging directory, not inside it (it would be packaged).
set(_work "${CPACK_TEMPORARY_DIRECTORY}.shlibdeps")
file(REMOVE_RECURSE "${_work}")
file(WRITE "${_work}/debian/control" "")
execute_process(
  COMMAND "${CPACK_GRPCR_DPKG_SHLIBDEPS}" -O "-x${CPACK_GRPCR_LIBGRPC_DEB_PACKAGE}" ${_elf}
  WORKING_DIRECTORY "${_work}"
  OUTPUT_VARIABLE _out ERROR_VARIABLE _err RESULT_VARIABLE _rc
  OUTPUT_STRIP_TRAILING_WHITESPACE)
file(REMOVE_RECURSE "${_work}")
set(_auto "")
if(_rc EQUAL 0)
  string(REPLACE "\n" ";" _lines "${_out}")
  foreach(_line IN LISTS _lines)
    if(_line MATCHES "^shlibs:Depends=(.+)")
      set(_auto "${CMAKE_MATCH_1}")
    endif()
  endforeach()
endif()
if(NOT _auto)
  message(FATAL_ERROR "grpc-resilience DEB: dpkg-shlibdeps failed (${_rc}): ${_err}\n${_out}")
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${CPACK_GRPCR_DEB_PIN}, ${_auto}")
message(STATUS "grpc-resilience DEB: Depends: ${CPACK_DEBIAN_PACKAGE_DEPENDS}")
