# Writes build_info.cc with the version and the git revision, at every build (the
# revision moves without CMake re-running). configure_file leaves the file alone
# when nothing changed, so nothing is recompiled then.
# In: SOURCE_DIR, TEMPLATE, OUTPUT, PROJECT_VERSION, DOCGATE_REVISION (may be empty;
# then the environment's DOCGATE_REVISION, as the Dockerfile sets it, then git).
if(NOT DOCGATE_REVISION AND DEFINED ENV{DOCGATE_REVISION})
  set(DOCGATE_REVISION "$ENV{DOCGATE_REVISION}")
endif()
if(NOT DOCGATE_REVISION)
  execute_process(
    COMMAND git -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
    OUTPUT_VARIABLE DOCGATE_REVISION
    OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE git_result
    ERROR_QUIET)
  if(NOT git_result EQUAL 0 OR NOT DOCGATE_REVISION)
    set(DOCGATE_REVISION "unknown")
  endif()
endif()
configure_file("${TEMPLATE}" "${OUTPUT}" @ONLY)
