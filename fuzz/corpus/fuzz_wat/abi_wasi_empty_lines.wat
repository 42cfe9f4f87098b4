;; WASI command for the ABI tests: writes 100,000 empty lines to stdout, one
;; fd_write call each (a hostile guest's cheapest way to make log lines), then
;; its result {"lines":100000}.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0..15: one iovec and a result slot.
  (data (i32.const 64) "\n")
  (data (i32.const 96) "{\"lines\":100000}\n")        ;; 17 bytes
  ;; Writes [ptr, ptr+len) to `fd`.
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 100000)))
        (call $write (i32.const 1) (i32.const 64) (i32.const 1))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $write (i32.const 1) (i32.const 96) (i32.const 17))))
