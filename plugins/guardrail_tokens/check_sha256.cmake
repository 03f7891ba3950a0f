# cmake -DFILE=path -DSHA256=hex -DWHAT=text -P check_sha256.cmake: fails unless FILE's SHA-256 is SHA256.
file(SHA256 "${FILE}" actual)
if(NOT actual STREQUAL SHA256)
  message(FATAL_ERROR "${FILE}: SHA-256 ${actual}, expected ${SHA256} (${WHAT}). "
                      "Delete it and run deploy/setup.sh to fetch the pinned package again.")
endif()
