;; A start function: runs once per instance, at instantiation, before any
;; export is called. It calls the host ("env" "started") and sets a global.
(module
  (import "env" "started" (func $started))
  (global $ready (mut i32) (i32.const 0))
  (func $init
    (call $started)
    (global.set $ready (i32.const 42)))
  (start $init)
  (func (export "ready") (result i32) (global.get $ready)))
