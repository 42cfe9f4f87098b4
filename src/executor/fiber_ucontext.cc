// Built only with WOW_FIBER_SANITIZER (the sanitizer presets): Boost.Context's ucontext fibers are header-only except
// for this per-thread record, which Debian's libboost_context (built for the assembly fcontext variant) does not
// export. The ucontext variant is the one that tells the sanitizers about stack switches
// (__sanitizer_start_switch_fiber with BOOST_USE_ASAN, __tsan_switch_to_fiber with BOOST_USE_TSAN); the assembly one
// does not, and TSan then sees the fibers' frames on the wrong thread. Same definitions as Boost 1.81's
// libs/context/src/fiber.cpp.
#if !defined(BOOST_USE_UCONTEXT)
#error "fiber_ucontext.cc needs BOOST_USE_UCONTEXT (see WOW_FIBER_SANITIZER in src/executor/CMakeLists.txt)"
#endif

#include <boost/assert.hpp>
#include <boost/context/fiber.hpp>

namespace boost::context::detail {
namespace {
thread_local fiber_activation_record* current_record = nullptr;
thread_local std::size_t initializer_count = 0;
}  // namespace

fiber_activation_record_initializer::fiber_activation_record_initializer() noexcept {
  if (0 == initializer_count++) current_record = new fiber_activation_record();
}

fiber_activation_record_initializer::~fiber_activation_record_initializer() {
  if (0 == --initializer_count) {
    BOOST_ASSERT(current_record->is_main_context());
    delete current_record;
  }
}

fiber_activation_record*& fiber_activation_record::current() noexcept {
  // Initialised the first time control passes, once per thread.
  thread_local static fiber_activation_record_initializer initializer;
  return current_record;
}
}  // namespace boost::context::detail
