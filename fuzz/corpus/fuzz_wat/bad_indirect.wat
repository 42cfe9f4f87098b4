;; Hostile guest: bad call_indirect. Expected: kIndirectCallMismatch for a
;; wrong signature, a null table entry and an index past the end of the table.
(module
  (type $i_i (func (param i32) (result i32)))
  ;; Structurally the same as $i_i: calls through it must succeed.
  (type $i_i_alias (func (param i32) (result i32)))
  (type $v_i (func (result i32)))

  ;; Slots: 0 = $inc (i32)->i32, 1 = $answer ()->i32, 2 and 3 = null.
  (table 4 funcref)
  (elem (i32.const 0) $inc $answer)

  (func $inc (type $i_i) (i32.add (local.get 0) (i32.const 1)))
  (func $answer (type $v_i) (i32.const 42))

  ;; Calls table[$slot] as (i32)->i32 with argument $x.
  (func (export "call_i_i") (param $slot i32) (param $x i32) (result i32)
    (call_indirect (type $i_i) (local.get $x) (local.get $slot)))
  (func (export "call_i_i_alias") (param $slot i32) (param $x i32) (result i32)
    (call_indirect (type $i_i_alias) (local.get $x) (local.get $slot)))
  ;; Calls table[$slot] as ()->i32.
  (func (export "call_v_i") (param $slot i32) (result i32)
    (call_indirect (type $v_i) (local.get $slot))))
