;; Hostile guest: integer arithmetic traps.
;; Expected: x/0 and x%0 -> kDivideByZero; INT_MIN / -1 -> kIntegerOverflow
;; (but INT_MIN % -1 is 0, no trap); trunc of NaN -> kInvalidConversion;
;; trunc of an out-of-range float -> kIntegerOverflow.
(module
  (func (export "div_s32") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "div_u32") (param i32 i32) (result i32) (i32.div_u (local.get 0) (local.get 1)))
  (func (export "rem_s32") (param i32 i32) (result i32) (i32.rem_s (local.get 0) (local.get 1)))
  (func (export "rem_u32") (param i32 i32) (result i32) (i32.rem_u (local.get 0) (local.get 1)))
  (func (export "div_s64") (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1)))
  (func (export "div_u64") (param i64 i64) (result i64) (i64.div_u (local.get 0) (local.get 1)))
  (func (export "rem_s64") (param i64 i64) (result i64) (i64.rem_s (local.get 0) (local.get 1)))
  (func (export "rem_u64") (param i64 i64) (result i64) (i64.rem_u (local.get 0) (local.get 1)))

  ;; Float to integer conversions (trapping forms).
  (func (export "trunc_f32_s") (param f32) (result i32) (i32.trunc_f32_s (local.get 0)))
  (func (export "trunc_f64_s") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  (func (export "trunc_f64_u64") (param f64) (result i64) (i64.trunc_f64_u (local.get 0)))
  ;; NaN produced inside the guest: 0/0.
  (func (export "trunc_nan") (result i32)
    (i32.trunc_f32_s (f32.div (f32.const 0) (f32.const 0)))))
