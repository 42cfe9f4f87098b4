;; Host functions: value round-trips, exit, host errors and guest memory
;; access from the host. The imports are provided by the test.
(module
  (import "env" "echo_i32" (func $echo_i32 (param i32) (result i32)))
  (import "env" "echo_i64" (func $echo_i64 (param i64) (result i64)))
  (import "env" "echo_f32" (func $echo_f32 (param f32) (result f32)))
  (import "env" "echo_f64" (func $echo_f64 (param f64) (result f64)))
  ;; Records all four arguments; returns their count as the host saw them.
  (import "env" "take4" (func $take4 (param i32 i64 f32 f64) (result i32)))
  ;; Returns HostAction::kExit with the given code.
  (import "env" "exit" (func $exit (param i32)))
  ;; Returns HostAction::kTrap with a message.
  (import "env" "fail" (func $fail))
  ;; Checks [ptr, ptr+len) through GuestMemory::Span: returns 1 and writes
  ;; 0x5A into the first byte when it is in bounds, 0 when it is not.
  (import "env" "inspect" (func $inspect (param i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "hello, host")

  (func (export "echo_i32") (param i32) (result i32) (call $echo_i32 (local.get 0)))
  (func (export "echo_i64") (param i64) (result i64) (call $echo_i64 (local.get 0)))
  (func (export "echo_f32") (param f32) (result f32) (call $echo_f32 (local.get 0)))
  (func (export "echo_f64") (param f64) (result f64) (call $echo_f64 (local.get 0)))
  (func (export "take4") (param i32 i64 f32 f64) (result i32)
    (call $take4 (local.get 0) (local.get 1) (local.get 2) (local.get 3)))

  ;; Calls exit; the code after it must never run.
  (func (export "exit_with") (param $code i32) (result i32)
    (call $exit (local.get $code))
    (unreachable))
  ;; Calls fail; the code after it must never run.
  (func (export "fail") (result i32)
    (call $fail)
    (unreachable))

  ;; Asks the host to inspect [ptr, ptr+len); returns the first byte (as
  ;; the host left it) when in bounds, -1 otherwise.
  (func (export "inspect") (param $ptr i32) (param $len i32) (result i32)
    (if (result i32) (call $inspect (local.get $ptr) (local.get $len))
      (then (i32.load8_u (local.get $ptr)))
      (else (i32.const -1))))

  (func (export "grow") (param $delta i32) (result i32)
    (memory.grow (local.get $delta))))
