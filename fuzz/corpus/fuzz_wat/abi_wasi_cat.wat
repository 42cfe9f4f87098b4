;; WASI command for the ABI tests: logs one line on stdout and one on stderr,
;; then copies stdin (the parameters) to stdout as its last line, followed by
;; blank lines, so the result is the parameters themselves.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 4)
  ;; 0..15: one iovec and a result slot.
  (data (i32.const 64) "cat: first log line\n")         ;; 20 bytes
  (data (i32.const 96) "cat: a line on stderr\n")       ;; 22 bytes
  (data (i32.const 128) "\n \n\n")                       ;; 4 bytes: trailing blanks
  ;; Writes [ptr, ptr+len) to `fd`.
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (local $n i32)
    (call $write (i32.const 1) (i32.const 64) (i32.const 20))
    (call $write (i32.const 2) (i32.const 96) (i32.const 22))
    ;; Copy stdin through a 64 KiB buffer at 65536 until end of file.
    (block $done
      (loop $more
        (i32.store (i32.const 0) (i32.const 65536))
        (i32.store (i32.const 4) (i32.const 65536))
        (br_if $done (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (local.set $n (i32.load (i32.const 8)))
        (br_if $done (i32.eqz (local.get $n)))
        (call $write (i32.const 1) (i32.const 65536) (local.get $n))
        (br $more)))
    (call $write (i32.const 1) (i32.const 128) (i32.const 4))))
