# Writes one shell completion script by running the built banger (cmake -P script):
#   cmake -DBANGER=<banger> -DSHELL_NAME=bash|zsh|fish -DOUTPUT=<file> -P GenerateCompletion.cmake
execute_process(COMMAND ${BANGER} completion ${SHELL_NAME}
  OUTPUT_FILE ${OUTPUT}
  RESULT_VARIABLE result
  ERROR_VARIABLE error)
if(NOT result EQUAL 0)
  file(REMOVE ${OUTPUT})
  message(FATAL_ERROR "banger completion ${SHELL_NAME} failed (${result}): ${error}")
endif()
