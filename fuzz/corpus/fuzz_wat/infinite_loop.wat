;; Hostile guest: a tight loop without calls, never returns.
;; Expected (once the engines enforce deadlines): TrapKind::kTimeout.
;; DO NOT call "spin" without a deadline mechanism: it never returns.
;;
;; The loop writes a global each iteration so the C compiler keeps it.
(module
  (global $ticks (mut i64) (i64.const 0))
  (func (export "spin")
    (loop $forever
      (global.set $ticks (i64.add (global.get $ticks) (i64.const 1)))
      (br $forever)))
  (func (export "ticks") (result i64) (global.get $ticks)))
