/*
 * clock: returns the current time.
 *   {} -> {"time_ns": <ns since the Unix epoch>,
 *          "iso": "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ",
 *          "monotonic_ns": <CLOCK_MONOTONIC ns>}
 * WASI-command ABI on every target (WOW_COMMAND): the parameters arrive on
 * stdin (ignored here, but they must be a JSON object or empty), the result
 * is the last stdout line, a non-zero exit status marks an error. No
 * capabilities.
 */
#define _POSIX_C_SOURCE 200809L

#include <time.h>

#include "wow.h"

static int clock_action(const char* params, size_t len, wow_output* out) {
  (void)params;
  (void)len;
  struct timespec now, mono;
  if (clock_gettime(CLOCK_REALTIME, &now) != 0 ||
      clock_gettime(CLOCK_MONOTONIC, &mono) != 0)
    return wow_error(out, "clock_gettime: %s", strerror(errno));
  struct tm utc;
  if (gmtime_r(&now.tv_sec, &utc) == NULL)
    return wow_error(out, "gmtime_r: time out of range");

  wow_json_begin_object(out);
  wow_json_key(out, "time_ns");
  wow_json_int(out, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
  wow_json_key(out, "iso");
  char iso[64];
  snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ",
           utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
           utc.tm_min, utc.tm_sec, (long)now.tv_nsec);
  wow_json_string(out, iso);
  wow_json_key(out, "monotonic_ns");
  wow_json_int(out, (int64_t)mono.tv_sec * 1000000000 + mono.tv_nsec);
  wow_json_end_object(out);
  return WOW_OK;
}
WOW_COMMAND(clock_action)
