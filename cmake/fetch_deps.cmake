# fetch_deps.cmake: fallback for machines without the Debian source tarballs (scripts/deps.sh).
#
# Pins the same upstream commits as the Debian packages; cpuinfo uses the commit XNNPACK 4ea82e5
# itself pins (Debian's 877328f has no published full id). UNTESTED: the machines this project is
# built on cannot reach these hosts. The Emscripten edits are applied by scripts/deps.sh patch.
include(FetchContent)
set(_src "${CMAKE_BINARY_DIR}/_deps/src")
foreach(dep
    "xnnpack|https://github.com/google/XNNPACK.git|4ea82e595b36106653175dcb04b2aa532660d0d8"
    "pthreadpool|https://github.com/google/pthreadpool.git|560c60d342a76076f0557a3946924c6478470044"
    "cpuinfo|https://github.com/pytorch/cpuinfo.git|dff2616ddd49122b63abcf44d2c097483b77f861"
    "fxdiv|https://github.com/Maratyszcza/FXdiv.git|b408327ac2a15ec3e43352421954f5b1967701d1"
    "stb|https://github.com/nothings/stb.git|5c205738c191bcb0abc65c4febfa9bd25ff35234")
  string(REPLACE "|" ";" dep "${dep}")
  list(GET dep 0 name)
  list(GET dep 1 url)
  list(GET dep 2 commit)
  FetchContent_Declare(${name} GIT_REPOSITORY ${url} GIT_TAG ${commit} SOURCE_DIR "${_src}/${name}")
  FetchContent_GetProperties(${name})
  if(NOT ${name}_POPULATED)
    FetchContent_Populate(${name})
  endif()
endforeach()
execute_process(COMMAND bash "${CMAKE_SOURCE_DIR}/scripts/deps.sh" patch "${_src}" RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "applying the Emscripten edits to ${_src} failed")
endif()
set(CNNLENS_DEPS_DIR "${_src}" CACHE PATH "Unpacked third-party sources" FORCE)
