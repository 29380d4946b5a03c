# banger_warnings: the warning set every banger target links PRIVATE (never third-party code).
add_library(banger_warnings INTERFACE)
target_compile_options(banger_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wno-missing-field-initializers)
if(BANGER_WERROR)
  target_compile_options(banger_warnings INTERFACE -Werror)
endif()
