// Runs one WOW-ABI example (translated by wasm2c with module name "m") on
// wabt's stock runtime and reports the process CPU time of a run
// (instantiate + _start + free), best and mean of N. WASI is stubbed: no
// arguments (the SDK then reads the whole buffer), writes are discarded.
// Used by run.sh to compare code-generation variants; not part of the build.
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "m.h"
#include "wasm-rt-impl.h"

static Z_m_instance_t* g;
static jmp_buf exit_jmp;
#define MEM (g->w2c_memory.data)

typedef struct Z_wasi_snapshot_preview1_instance_t W;
u32 Z_wasi_snapshot_preview1Z_args_get(W* w, u32 argv, u32 buf) { return 0; }
u32 Z_wasi_snapshot_preview1Z_args_sizes_get(W* w, u32 argc, u32 size) {
  memset(MEM + argc, 0, 4);
  memset(MEM + size, 0, 4);
  return 0;
}
u32 Z_wasi_snapshot_preview1Z_fd_close(W* w, u32 fd) { return 0; }
u32 Z_wasi_snapshot_preview1Z_fd_seek(W* w, u32 fd, u64 off, u32 whence, u32 out) { return 8; }
u32 Z_wasi_snapshot_preview1Z_fd_write(W* w, u32 fd, u32 iovs, u32 n, u32 out) {
  u32 total = 0;
  for (u32 i = 0; i < n; ++i) {
    u32 len;
    memcpy(&len, MEM + iovs + 8 * i + 4, 4);
    total += len;
  }
  memcpy(MEM + out, &total, 4);
  return 0;
}
void Z_wasi_snapshot_preview1Z_proc_exit(W* w, u32 code) { longjmp(exit_jmp, 1); }

static double CpuMs(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char** argv) {
  const char* params = argc > 1 ? argv[1] : "{}";
  int runs = argc > 2 ? atoi(argv[2]) : 8;
  wasm_rt_init();
  Z_m_init_module();
  double best = 1e30, sum = 0;
  for (int r = 0; r < runs; ++r) {
    Z_m_instance_t inst;
    g = &inst;
    double t0 = CpuMs();
    Z_m_instantiate(&inst, (W*)&inst);
    if (wasm_rt_impl_try() != 0) {
      fprintf(stderr, "trap\n");
      return 1;
    }
    u32 len = (u32)strlen(params);
    Z_mZ_wasm_memory_buffer_allocate_space(&inst, len);
    memcpy(MEM + Z_mZ_get_wasm_memory_buffer_pointer(&inst), params, len);
    if (!setjmp(exit_jmp)) Z_mZ__start(&inst);
    double ms = CpuMs() - t0;
    if (r == 0) {
      printf("%.*s\n", (int)Z_mZ_get_wasm_memory_buffer_len(&inst), MEM + Z_mZ_get_wasm_memory_buffer_pointer(&inst));
    }
    Z_m_free(&inst);
    if (ms < best) best = ms;
    sum += ms;
  }
  printf("cpu best %.1f ms  mean %.1f ms\n", best, sum / runs);
  return 0;
}
