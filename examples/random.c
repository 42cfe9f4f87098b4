/*
 * random: returns fresh random numbers from the system's entropy source
 * (getentropy, i.e. WASI random_get under wasm).
 *   {} -> {"value": <uniform uint32>, "float": <uniform double in [0, 1)>}
 * WASI-command ABI (parameters on stdin, result as the last stdout line,
 * non-zero exit status on error); no capabilities. wow.h is used only for
 * its JSON helpers.
 */
#include <sys/random.h>

#include "wow.h"

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

  unsigned char bytes[12];
  if (getentropy(bytes, sizeof bytes) != 0)
    return finish(&result,
                  wow_error(&result, "getentropy: %s", strerror(errno)));
  uint32_t value = 0;
  uint64_t mantissa = 0;
  for (int i = 0; i < 4; ++i) value = value << 8 | bytes[i];
  for (int i = 4; i < 12; ++i) mantissa = mantissa << 8 | bytes[i];

  wow_json_begin_object(&result);
  wow_json_key(&result, "value");
  wow_json_uint(&result, value);
  wow_json_key(&result, "float");
  /* 53 random bits scaled by 2^-53: uniform over [0, 1) at full precision. */
  wow_json_double(&result,
                  (double)(mantissa >> 11) * (1.0 / 9007199254740992.0));
  wow_json_end_object(&result);
  return finish(&result, WOW_OK);
}
