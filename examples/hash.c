/*
 * hash: WOW's CPU-bound workload. Hashes the string `input` with SHA-256,
 * then hashes the 32-byte digest again, `iterations` times in total:
 *   {"input": "...", "iterations": n}
 *     -> {"digest": "<64 hex digits>", "iterations": n}
 * WOW ABI (wow.h), no capabilities. The paper iterated BLAKE3; SHA-256 is
 * written out here so the workload needs no library. The default iteration
 * count takes ~100 ms in the native -O2 build on the evaluation machine.
 */
#include "wow.h"

enum {
  kDefaultIterations = 400000,
  kMaxIterations = 1000000000, /* bounds the run time, not memory */
};

static const char kDefaultInput[] = "wow: WebAssembly serverless at the edge";

typedef struct sha256 {
  uint32_t state[8];
  uint64_t bytes; /* total message length */
  unsigned char block[64];
  size_t fill; /* bytes pending in block */
} sha256;

static const uint32_t kRound[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_compress(uint32_t state[8], const unsigned char block[64]) {
  uint32_t w[64];
  for (int i = 0; i < 16; ++i)
    w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
           (uint32_t)block[4 * i + 2] << 8 | (uint32_t)block[4 * i + 3];
  for (int i = 16; i < 64; ++i) {
    uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
  uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
  for (int i = 0; i < 64; ++i) {
    uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) +
                  ((e & f) ^ (~e & g)) + kRound[i] + w[i];
    uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) +
                  ((a & b) ^ (a & c) ^ (b & c));
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
  state[4] += e;
  state[5] += f;
  state[6] += g;
  state[7] += h;
}

static void sha256_init(sha256* s) {
  static const uint32_t kInit[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                    0xa54ff53a, 0x510e527f, 0x9b05688c,
                                    0x1f83d9ab, 0x5be0cd19};
  memcpy(s->state, kInit, sizeof kInit);
  s->bytes = 0;
  s->fill = 0;
}

static void sha256_update(sha256* s, const unsigned char* data, size_t n) {
  s->bytes += n;
  while (n > 0) {
    size_t take = 64 - s->fill < n ? 64 - s->fill : n;
    memcpy(s->block + s->fill, data, take);
    s->fill += take;
    data += take;
    n -= take;
    if (s->fill == 64) {
      sha256_compress(s->state, s->block);
      s->fill = 0;
    }
  }
}

static void sha256_final(sha256* s, unsigned char digest[32]) {
  uint64_t bits = s->bytes * 8;
  s->block[s->fill++] = 0x80;
  if (s->fill > 56) {
    memset(s->block + s->fill, 0, 64 - s->fill);
    sha256_compress(s->state, s->block);
    s->fill = 0;
  }
  memset(s->block + s->fill, 0, 56 - s->fill);
  for (int i = 0; i < 8; ++i)
    s->block[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
  sha256_compress(s->state, s->block);
  for (int i = 0; i < 8; ++i) {
    digest[4 * i] = (unsigned char)(s->state[i] >> 24);
    digest[4 * i + 1] = (unsigned char)(s->state[i] >> 16);
    digest[4 * i + 2] = (unsigned char)(s->state[i] >> 8);
    digest[4 * i + 3] = (unsigned char)s->state[i];
  }
}

static void sha256_of(const unsigned char* data, size_t n,
                      unsigned char digest[32]) {
  sha256 s;
  sha256_init(&s);
  sha256_update(&s, data, n);
  sha256_final(&s, digest);
}

static int hash(const char* params, size_t len, wow_output* out) {
  wow_buf input = WOW_BUF_INIT;
  int64_t iterations = kDefaultIterations; /* set by wow_param_int; -Oz cannot see that */
  if (!wow_param_string(params, len, "input", kDefaultInput, &input, out) ||
      !wow_param_int(params, len, "iterations", kDefaultIterations, &iterations,
                     out)) {
    wow_buf_free(&input);
    return WOW_ERROR;
  }
  if (iterations < 1 || iterations > kMaxIterations) {
    wow_buf_free(&input);
    return wow_error(out, "parameter 'iterations' must be between 1 and %d",
                     kMaxIterations);
  }

  unsigned char digest[32];
  sha256_of((const unsigned char*)input.data, input.len, digest);
  for (int64_t i = 1; i < iterations; ++i)
    sha256_of(digest, sizeof digest, digest);
  wow_buf_free(&input);

  static const char kHex[] = "0123456789abcdef";
  char hex[64];
  for (int i = 0; i < 32; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 15];
  }
  wow_json_begin_object(out);
  wow_json_key(out, "digest");
  wow_json_string_n(out, hex, sizeof hex);
  wow_json_key(out, "iterations");
  wow_json_int(out, iterations);
  wow_json_end_object(out);
  return WOW_OK;
}

WOW_ACTION(hash)
