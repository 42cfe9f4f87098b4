;; Hostile guest: out-of-bounds loads and stores. Expected: kOutOfBounds.
;; Starts with one page (64 KiB, valid addresses 0..65535).
(module
  (memory (export "memory") 1)

  ;; Just past the end.
  (func (export "load_past_end") (result i32) (i32.load (i32.const 65536)))
  (func (export "store_past_end") (i32.store (i32.const 65536) (i32.const 1)))
  ;; Starts in bounds, ends 3 bytes past the end.
  (func (export "load_straddling") (result i32) (i32.load (i32.const 65535)))
  (func (export "store_straddling") (i64.store (i32.const 65530) (i64.const -1)))

  ;; The farthest reachable address: 0xFFFFFFFF + offset 0xFFFFFFFF.
  (func (export "load_max") (result i64)
    (i64.load offset=0xFFFFFFFF (i32.const 0xFFFFFFFF)))
  (func (export "store_max")
    (i64.store offset=0xFFFFFFFF (i32.const 0xFFFFFFFF) (i64.const 1)))
  ;; An in-bounds base with an offset that takes it out.
  (func (export "load_offset_past_end") (result i32)
    (i32.load8_u offset=65536 (i32.const 0)))

  ;; Parametrised access for the boundary checks after memory.grow.
  (func (export "load8") (param $addr i32) (result i32)
    (i32.load8_u (local.get $addr)))
  (func (export "store8") (param $addr i32) (param $v i32)
    (i32.store8 (local.get $addr) (local.get $v)))
  (func (export "grow") (param $delta i32) (result i32)
    (memory.grow (local.get $delta))))
