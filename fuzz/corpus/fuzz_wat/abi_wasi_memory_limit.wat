;; WASI command for the ABI tests: logs a line, grows its memory one MiB at a
;; time until the host refuses, then touches the byte just past the end of
;; memory, which traps. The activation's error must blame the memory limit.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "growing\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 8))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (block $refused
      (loop $grow
        ;; Stops well below 4 GiB even if the host never refuses.
        (br_if $refused (i32.ge_u (memory.size) (i32.const 16384)))
        (br_if $refused (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
        (br $grow)))
    (drop (i32.load8_u (i32.mul (memory.size) (i32.const 65536))))))
