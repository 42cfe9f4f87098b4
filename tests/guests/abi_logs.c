/*
 * abi_logs: a WASI command for the log-order tests. Alternates lines on stdout
 * and stderr, flushing each and pausing 2 ms between writes, so the host sees
 *   stdout "out 0", stderr "err 0", ..., stdout "out 2", stderr "err 2",
 * then a stdout line written in two parts around a stderr line (so
 * "err between" comes before "split line": a line takes its place when its
 * newline is written), then the result {"lines":8}, which is not a log.
 * Built by tests/CMakeLists.txt with clang-16 --target=wasm32-wasi.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <time.h>

static void pause_briefly(void) {
  struct timespec ts = {0, 2 * 1000 * 1000};
  nanosleep(&ts, NULL);
}

int main(void) {
  for (int i = 0; i < 3; ++i) {
    printf("out %d\n", i);
    fflush(stdout);
    pause_briefly();
    fprintf(stderr, "err %d\n", i);
    fflush(stderr);
    pause_briefly();
  }
  printf("split ");
  fflush(stdout);
  pause_briefly();
  fprintf(stderr, "err between\n");
  fflush(stderr);
  pause_briefly();
  printf("line\n");
  fflush(stdout);
  pause_briefly();
  printf("{\"lines\":8}\n");
  return 0;
}
