;; Hostile guest: grabs as much linear memory as it is given.
;;
;; Expected with InstanceOptions::memory_limit_bytes = L: growth stops at
;; floor(L / 64 KiB) pages (memory.grow returns -1, no trap) and
;; Instance::memory_limit_hit() is true; with a declared maximum below L the
;; maximum wins and memory_limit_hit() stays false.
;;
;; The test suite derives variants from this file by replacing the memory
;; declaration line below (initial size and maximum); keep it on one line.
(module
  (memory (export "memory") 1)

  ;; Grows one page at a time until memory.grow refuses; returns the final
  ;; size in pages.
  (func (export "grow_until_refused") (result i32)
    (block $refused
      (loop $more
        (br_if $refused (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $more)))
    (memory.size))

  ;; Grows by $delta pages, then writes and reads back the last byte of the
  ;; grown memory. Returns the new size in pages, or -1 when the grow was
  ;; refused (memory unchanged).
  (func (export "grow_and_touch") (param $delta i32) (result i32)
    (local $last i32)
    (if (i32.eq (memory.grow (local.get $delta)) (i32.const -1))
      (then (return (i32.const -1))))
    (local.set $last (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1)))
    (i32.store8 (local.get $last) (i32.const 0xAB))
    (if (i32.ne (i32.load8_u (local.get $last)) (i32.const 0xAB))
      (then unreachable))
    (memory.size))

  (func (export "pages") (result i32) (memory.size)))
