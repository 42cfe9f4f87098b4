/*
 * clock: returns the current time.
 *   {} -> {"time_ns": <ns since the Unix epoch>,
 *          "iso": "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ",
 *          "monotonic_ns": <CLOCK_MONOTONIC ns>}
 * WASI-command ABI, written without WOW_ACTION to show the protocol: the
 * parameters arrive on stdin (ignored here, but they must be a JSON object
 * or empty), the result is the last stdout line, a non-zero exit status
 * marks an error. No capabilities. wow.h is used only for its JSON helpers.
 */
#define _POSIX_C_SOURCE 200809L

#include <time.h>

#include "wow.h"

/* Prints `result` as the final stdout line and maps `rc` to the exit status. */
static int finish(wow_buf* result, int rc) {
  if (result->failed) {
    puts("{\"error\":\"out of memory\"}");
    rc = WOW_ERROR;
  } else {
    puts(result->data);
  }
  wow_buf_free(result);
  return rc == WOW_OK && fflush(stdout) == 0 ? 0 : 1;
}

int main(void) {
  wow_buf params = WOW_BUF_INIT;
  wow_buf result = WOW_BUF_INIT;
  bool read_ok = wow_read_all(stdin, &params);
  bool valid = read_ok && (wow_json_is_blank(params.data, params.len) ||
                           wow_json_validate_object(params.data, params.len));
  wow_buf_free(&params);
  if (!read_ok)
    return finish(&result,
                  wow_error(&result, "cannot read parameters from stdin"));
  if (!valid)
    return finish(&result,
                  wow_error(&result, "parameters are not a valid JSON object"));

  struct timespec now, mono;
  if (clock_gettime(CLOCK_REALTIME, &now) != 0 ||
      clock_gettime(CLOCK_MONOTONIC, &mono) != 0)
    return finish(&result,
                  wow_error(&result, "clock_gettime: %s", strerror(errno)));
  struct tm utc;
  if (gmtime_r(&now.tv_sec, &utc) == NULL)
    return finish(&result, wow_error(&result, "gmtime_r: time out of range"));

  wow_json_begin_object(&result);
  wow_json_key(&result, "time_ns");
  wow_json_int(&result, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
  wow_json_key(&result, "iso");
  char iso[64];
  snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ",
           utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
           utc.tm_min, utc.tm_sec, (long)now.tv_nsec);
  wow_json_string(&result, iso);
  wow_json_key(&result, "monotonic_ns");
  wow_json_int(&result, (int64_t)mono.tv_sec * 1000000000 + mono.tv_nsec);
  wow_json_end_object(&result);
  return finish(&result, WOW_OK);
}
