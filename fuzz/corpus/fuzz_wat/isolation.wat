;; Instance isolation: every fresh instance must start from the module's
;; initial state, whatever the previous instance did.
;;   global $counter starts at 7; memory[16] (i32) starts at 100 (data
;;   segment); everything else in memory starts at 0.
(module
  (memory (export "memory") 1)
  (global $counter (mut i32) (i32.const 7))
  (data (i32.const 16) "\64\00\00\00")  ;; 100

  ;; Increment and return the global counter.
  (func (export "bump_global") (result i32)
    (global.set $counter (i32.add (global.get $counter) (i32.const 1)))
    (global.get $counter))

  ;; Increment and return the counter in memory at 16.
  (func (export "bump_memory") (result i32)
    (i32.store (i32.const 16) (i32.add (i32.load (i32.const 16)) (i32.const 1)))
    (i32.load (i32.const 16)))

  ;; Grows by $delta pages (returns the new size or -1).
  (func (export "grow") (param $delta i32) (result i32)
    (if (i32.eq (memory.grow (local.get $delta)) (i32.const -1))
      (then (return (i32.const -1))))
    (memory.size))

  ;; Fills all of memory with byte $b.
  (func (export "fill") (param $b i32)
    (memory.fill (i32.const 0) (local.get $b)
                 (i32.mul (memory.size) (i32.const 65536))))

  ;; Counts the non-zero bytes in all of memory.
  (func (export "count_nonzero") (result i32)
    (local $i i32) (local $n i32) (local $end i32)
    (local.set $end (i32.mul (memory.size) (i32.const 65536)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (if (i32.load8_u (local.get $i))
          (then (local.set $n (i32.add (local.get $n) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $n)))
