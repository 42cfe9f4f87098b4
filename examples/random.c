/*
 * random: returns fresh random numbers from the system's entropy source
 * (getentropy, i.e. WASI random_get under wasm).
 *   {} -> {"value": <uniform uint32>, "float": <uniform double in [0, 1)>}
 * WASI-command ABI on every target (WOW_COMMAND: parameters on stdin, result
 * as the last stdout line, non-zero exit status on error); no capabilities.
 */
#include <sys/random.h>

#include "wow.h"

static int random_action(const char* params, size_t len, wow_output* out) {
  (void)params;
  (void)len;
  unsigned char bytes[12];
  if (getentropy(bytes, sizeof bytes) != 0)
    return wow_error(out, "getentropy: %s", strerror(errno));
  uint32_t value = 0;
  uint64_t mantissa = 0;
  for (int i = 0; i < 4; ++i) value = value << 8 | bytes[i];
  for (int i = 4; i < 12; ++i) mantissa = mantissa << 8 | bytes[i];

  wow_json_begin_object(out);
  wow_json_key(out, "value");
  wow_json_uint(out, value);
  wow_json_key(out, "float");
  /* 53 random bits scaled by 2^-53: uniform over [0, 1) at full precision. */
  wow_json_double(out, (double)(mantissa >> 11) * (1.0 / 9007199254740992.0));
  wow_json_end_object(out);
  return WOW_OK;
}
WOW_COMMAND(random_action)
