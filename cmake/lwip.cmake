# lwIP, compiled from its release source with ferry's own lwipopts.h (stack/lwip/).
#
# No lwIP file is copied, patched or generated into its tree: the source lists are globbed
# from FERRY_LWIP_DIR (lwIP's own Filelists.cmake writes a Doxyfile into the source tree,
# so it is not included). Only the core, IPv4 and IPv6 are built: no sequential API, no
# sockets, no apps, no Ethernet -- ferry's netif is a TUN and NO_SYS=1.
if(NOT EXISTS "${FERRY_LWIP_DIR}/src/include/lwip/init.h")
	message(FATAL_ERROR "lwIP source not found at '${FERRY_LWIP_DIR}'.\n"
		"Run tools/setup (fetches Debian's lwip source package), or point the build at "
		"an unpacked lwIP 2.1/2.2 release: cmake -DFERRY_LWIP_DIR=/path/to/lwip ...")
endif()

file(READ "${FERRY_LWIP_DIR}/src/include/lwip/init.h" _lwip_init_h)
string(REGEX MATCH "LWIP_VERSION_MAJOR[ \t]+([0-9]+)" _ "${_lwip_init_h}")
set(_major ${CMAKE_MATCH_1})
string(REGEX MATCH "LWIP_VERSION_MINOR[ \t]+([0-9]+)" _ "${_lwip_init_h}")
set(_minor ${CMAKE_MATCH_1})
string(REGEX MATCH "LWIP_VERSION_REVISION[ \t]+([0-9]+)" _ "${_lwip_init_h}")
set(FERRY_LWIP_VERSION "${_major}.${_minor}.${CMAKE_MATCH_1}")
if(FERRY_LWIP_VERSION VERSION_LESS 2.1.0)
	message(FATAL_ERROR "lwIP ${FERRY_LWIP_VERSION} at ${FERRY_LWIP_DIR} is too old (need 2.1+)")
endif()
message(STATUS "lwIP ${FERRY_LWIP_VERSION} from ${FERRY_LWIP_DIR}")

file(GLOB _lwip_srcs CONFIGURE_DEPENDS
	"${FERRY_LWIP_DIR}/src/core/*.c"
	"${FERRY_LWIP_DIR}/src/core/ipv4/*.c"
	"${FERRY_LWIP_DIR}/src/core/ipv6/*.c")
add_library(lwip STATIC ${_lwip_srcs})
target_include_directories(lwip SYSTEM PUBLIC
	"${CMAKE_SOURCE_DIR}/stack/lwip"	# lwipopts.h, arch/cc.h
	"${FERRY_LWIP_DIR}/src/include")
target_compile_definitions(lwip PUBLIC _GNU_SOURCE)
target_compile_options(lwip PRIVATE -w)
