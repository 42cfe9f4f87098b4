;; Imported host functions reached without a direct call: through a table
;; (filled by an active element segment, by a passive one with table.init,
;; and by ref.func with table.set) and as exports of the imports themselves.
;; The imports are MakeHost's in engine_test.cc.
(module
  (type $i32_to_i32 (func (param i32) (result i32)))
  (type $four_to_i32 (func (param i32 i64 f32 f64) (result i32)))
  (type $i32_to_none (func (param i32)))
  (type $none (func))
  (import "env" "echo_i32" (func $echo_i32 (type $i32_to_i32)))
  (import "env" "take4" (func $take4 (type $four_to_i32)))
  (import "env" "exit" (func $exit (type $i32_to_none)))
  (import "env" "fail" (func $fail (type $none)))
  (import "env" "started" (func $started (type $none)))

  ;; Slots 0-3: the active segment. 4-7: the passive segment after
  ;; "init_passive". 8-11: ref.func after "set_refs". Each group holds
  ;; echo_i32, take4, exit, fail in that order.
  (table $t 12 funcref)
  (elem (i32.const 0) $echo_i32 $take4 $exit $fail)
  (elem $passive func $echo_i32 $take4 $exit $fail)
  (elem declare func $started)

  (func (export "init_passive")
    (table.init $t $passive (i32.const 4) (i32.const 0) (i32.const 4)))
  (func (export "set_refs")
    (table.set $t (i32.const 8) (ref.func $echo_i32))
    (table.set $t (i32.const 9) (ref.func $take4))
    (table.set $t (i32.const 10) (ref.func $exit))
    (table.set $t (i32.const 11) (ref.func $fail)))

  (func (export "call_echo") (param $slot i32) (param $v i32) (result i32)
    (call_indirect (type $i32_to_i32) (local.get $v) (local.get $slot)))
  (func (export "call_take4") (param $slot i32) (param i32 i64 f32 f64) (result i32)
    (call_indirect (type $four_to_i32)
      (local.get 1) (local.get 2) (local.get 3) (local.get 4) (local.get $slot)))
  ;; The code after the call must never run.
  (func (export "call_exit") (param $slot i32) (param $code i32) (result i32)
    (call_indirect (type $i32_to_none) (local.get $code) (local.get $slot))
    (unreachable))
  (func (export "call_fail") (param $slot i32) (result i32)
    (call_indirect (type $none) (local.get $slot))
    (unreachable))

  ;; The imports exported as they are (echo_i32, take4, exit and fail are
  ;; in the table too).
  (export "echo_i32" (func $echo_i32))
  (export "take4" (func $take4))
  (export "exit" (func $exit))
  (export "fail" (func $fail))
  (export "started" (func $started)))
