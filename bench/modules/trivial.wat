;; The trivial module of BM_InstantiateCallTrivial (engine_bench), of
;; stock_runtime_bench (the same module through wabt's stock runtime) and of
;; instantiation_soak: one 64 KiB page of memory and an exported `add` that
;; stores its result in memory and loads it back, so every instance touches
;; (and the runtime must fault in or zero) one page, as any real guest does.
(module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32)
    (i32.store (i32.const 0) (i32.add (local.get 0) (local.get 1)))
    (i32.load (i32.const 0))))
