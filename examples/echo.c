/*
 * echo: returns its parameters unchanged (compacted to one line).
 * WOW ABI (wow.h). Logs one line to stdout and one to stderr, which makes it
 * the test action for log capture.
 */
#include "wow.h"

static int echo(const char* params, size_t len, wow_output* out) {
  printf("echo: %zu bytes\n", len);
  fprintf(stderr, "echo: returning the parameters unchanged\n");
  wow_json_raw(out, params, len);
  return WOW_OK;
}

WOW_ACTION(echo)
