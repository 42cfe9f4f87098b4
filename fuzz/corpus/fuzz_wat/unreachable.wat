;; Hostile guest: executes `unreachable`. Expected: kUnreachable.
(module
  (func $deep (param $n i32)
    (if (i32.eqz (local.get $n)) (then unreachable))
    (call $deep (i32.sub (local.get $n) (i32.const 1))))

  ;; Traps at once.
  (func (export "boom") unreachable)
  ;; Traps 100 calls deep.
  (func (export "boom_deep") (call $deep (i32.const 100)))
  ;; A normal function, for "works after a trap".
  (func (export "answer") (result i32) (i32.const 42)))
