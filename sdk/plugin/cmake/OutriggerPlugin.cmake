# outrigger_add_plugin(<name> SOURCES <files...> [LIBRARIES <targets...>])
#
# Builds an Outrigger plugin as a shared library that exports only outrigger_plugin_entry_v1.
# Used by every built-in plugin and, through find_package(Outrigger), by out-of-tree plugins.
# A post-build check fails the build if the library exports any other symbol.
include_guard(GLOBAL)

set(_OUTRIGGER_PLUGIN_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}")

function(outrigger_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  add_library(${name} MODULE ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    C_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    CXX_STANDARD 20
    CXX_STANDARD_REQUIRED ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  elseif(DEFINED OUTRIGGER_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${OUTRIGGER_PLUGIN_OUTPUT_DIR})
  endif()

  # The version script hides everything the toolchain would otherwise export (libstdc++
  # template instantiations keep default visibility), leaving the entry symbol alone.
  set(script "${CMAKE_CURRENT_BINARY_DIR}/${name}.exports")
  file(WRITE "${script}" "{ global: outrigger_plugin_entry_v1; local: *; };\n")
  target_link_options(${name} PRIVATE
    "LINKER:--version-script=${script}" "LINKER:-z,nodelete" "LINKER:--exclude-libs,ALL"
    "LINKER:--no-undefined")

  if(TARGET outrigger_plugin_sdk)
    target_link_libraries(${name} PRIVATE outrigger_plugin_sdk)
  else()
    target_link_libraries(${name} PRIVATE Outrigger::plugin_sdk)
  endif()
  if(ARG_LIBRARIES)
    target_link_libraries(${name} PRIVATE ${ARG_LIBRARIES})
  endif()

  # Built-in plugins install next to the daemon; out-of-tree plugins choose their own place.
  if(DEFINED OUTRIGGER_PLUGIN_INSTALL_DIR)
    install(TARGETS ${name} LIBRARY DESTINATION ${OUTRIGGER_PLUGIN_INSTALL_DIR})
  endif()

  add_custom_command(TARGET ${name} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -DPLUGIN=$<TARGET_FILE:${name}> -DNM=${CMAKE_NM}
            -P "${_OUTRIGGER_PLUGIN_CMAKE_DIR}/OutriggerCheckExports.cmake"
    VERBATIM)
endfunction()
