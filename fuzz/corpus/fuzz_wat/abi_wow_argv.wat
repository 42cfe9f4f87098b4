;; WOW-ABI action for the ABI tests. Returns what it was given:
;;   {"Ok":{"argv":["<argv[0]>","<argv[1]>",...],"params":<the buffer's bytes>}}
;; The host writes the parameters into the buffer the guest announces and
;; passes [action name, parameter length] as argv; arguments are copied as is
;; (the tests use names without quotes or backslashes).
;; Memory map: 0..1023 scratch, 1024.. argv pointers, 4096.. argv bytes,
;; 65536.. parameter buffer (up to 4 MiB), 4 MiB + 65536.. result.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get"
    (func $args_get (param i32 i32) (result i32)))
  (memory (export "memory") 160)
  (global $len (mut i32) (i32.const 0))
  (global $ptr (mut i32) (i32.const 65536))
  (global $out (mut i32) (i32.const 0))
  (data (i32.const 128) "{\"Ok\":{\"argv\":[\"")  ;; 16 bytes
  (data (i32.const 160) "\",\"")                   ;; 3 bytes
  (data (i32.const 176) "\"],\"params\":")          ;; 12 bytes
  (data (i32.const 192) "}}")                      ;; 2 bytes

  (func $put (param $src i32) (param $n i32)
    (memory.copy (global.get $out) (local.get $src) (local.get $n))
    (global.set $out (i32.add (global.get $out) (local.get $n))))

  (func (export "wasm_memory_buffer_allocate_space") (param $n i32)
    (global.set $len (local.get $n)))
  (func (export "get_wasm_memory_buffer_pointer") (result i32) (global.get $ptr))
  (func (export "get_wasm_memory_buffer_len") (result i32) (global.get $len))

  (func (export "_start")
    (local $size i32) (local $i i32) (local $b i32) (local $start i32)
    (if (call $args_sizes_get (i32.const 0) (i32.const 4)) (then (unreachable)))
    (local.set $size (i32.load (i32.const 4)))
    (if (call $args_get (i32.const 1024) (i32.const 4096)) (then (unreachable)))
    (local.set $start (i32.const 4259840))  ;; 4 MiB + 64 KiB
    (global.set $out (local.get $start))
    (call $put (i32.const 128) (i32.const 16))
    ;; argv bytes: each NUL but the last becomes ",".
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.sub (local.get $size) (i32.const 1))))
        (local.set $b (i32.load8_u (i32.add (i32.const 4096) (local.get $i))))
        (if (i32.eqz (local.get $b))
          (then (call $put (i32.const 160) (i32.const 3)))
          (else
            (i32.store8 (global.get $out) (local.get $b))
            (global.set $out (i32.add (global.get $out) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $put (i32.const 176) (i32.const 12))
    (call $put (global.get $ptr) (global.get $len))
    (call $put (i32.const 192) (i32.const 2))
    (global.set $len (i32.sub (global.get $out) (local.get $start)))
    (global.set $ptr (local.get $start))))
