;; Hostile guest: unbounded recursion. Expected: TrapKind::kStackExhausted.
;;
;; The recursion is driven by data the C compiler cannot see (memory[4] is
;; always 0 at run time, but only a load can tell), and each frame uses the
;; callee's result, so an optimising compiler can turn it into neither a loop
;; nor a no-op.
(module
  (memory 1)

  ;; Never returns normally: recurses until the native stack runs out.
  (func $recurse (export "recurse") (param $depth i32) (result i32)
    (i32.store (i32.const 0) (local.get $depth))
    (if (result i32) (i32.eqz (i32.load (i32.const 4)))
      (then
        (i32.add
          (call $recurse (i32.add (local.get $depth) (i32.const 1)))
          (i32.load (i32.const 0))))
      (else (local.get $depth))))

  ;; Bounded recursion for the "works after a trap" checks: returns 1+2+...+n.
  (func $sum (export "sum") (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else
        (i32.add (local.get $n)
                 (call $sum (i32.sub (local.get $n) (i32.const 1))))))))
