/*
 * prime: {"n": k} -> {"n": k, "prime": <the k-th prime>} by a sieve of
 * Eratosthenes over odd numbers (one bit each).
 * WOW ABI (wow.h), no capabilities. The default n = 1,000,000 (15,485,863)
 * sieves ~1 MiB and takes tens of milliseconds natively; the paper asked for
 * the 20,000,001st prime (a ~25 MiB sieve). n is capped at 50,000,000
 * (~64 MiB) so one request cannot claim unbounded memory; the host's memory
 * limit may be lower, in which case the action reports "out of memory".
 * Native builds link libm (-lm) for log().
 */
#include <math.h>

#include "wow.h"

enum { kDefaultN = 1000000 };
static const int64_t kMaxN = 50000000;

/* An upper bound for the n-th prime: p_n < n (ln n + ln ln n) for n >= 6
 * (Rosser and Schoenfeld). */
static uint64_t prime_upper_bound(int64_t n) {
  if (n < 6) return 13; /* p_5 = 11 */
  double x = (double)n;
  return (uint64_t)(x * (log(x) + log(log(x)))) + 1;
}

static int prime(const char* params, size_t len, wow_output* out) {
  int64_t n;
  if (!wow_param_int(params, len, "n", kDefaultN, &n, out)) return WOW_ERROR;
  if (n < 1 || n > kMaxN)
    return wow_error(out, "parameter 'n' must be between 1 and %" PRId64,
                     kMaxN);

  uint64_t result = 2;
  if (n > 1) {
    /* Bit k stands for the odd number 2k + 1; a set bit means composite. */
    uint64_t limit = prime_upper_bound(n);
    uint64_t bits = limit / 2 + 1;
    size_t words = (size_t)((bits + 63) / 64);
    uint64_t* composite = (uint64_t*)calloc(words, sizeof *composite);
    if (composite == NULL)
      return wow_error(out, "out of memory sieving up to %" PRIu64, limit);
    for (uint64_t p = 3; p * p <= limit; p += 2) {
      if (composite[p / 128] >> (p / 2 % 64) & 1) continue;
      for (uint64_t m = p * p; m <= limit; m += 2 * p)
        composite[m / 128] |= (uint64_t)1 << (m / 2 % 64);
    }
    /* Count odd primes (bit 0 is the number 1) until the (n-1)-th. */
    int64_t remaining = n - 1;
    composite[0] |= 1;
    uint64_t k = 0;
    for (size_t w = 0; w < words; ++w) {
      uint64_t primes = ~composite[w];
      if (w == words - 1 && bits % 64 != 0)
        primes &= ((uint64_t)1 << (bits % 64)) - 1;
      int count = __builtin_popcountll(primes);
      if (count < remaining) {
        remaining -= count;
        continue;
      }
      while (--remaining > 0) primes &= primes - 1; /* drop lower primes */
      k = (uint64_t)w * 64 + (uint64_t)__builtin_ctzll(primes);
      break;
    }
    free(composite);
    if (k == 0) return wow_error(out, "internal error: sieve bound too small");
    result = 2 * k + 1;
  }

  wow_json_begin_object(out);
  wow_json_key(out, "n");
  wow_json_int(out, n);
  wow_json_key(out, "prime");
  wow_json_uint(out, result);
  wow_json_end_object(out);
  return WOW_OK;
}

WOW_ACTION(prime)
