#pragma once

// Private members of libwabt 1.0.32's interpreter that the interp engine
// needs: starting a call without running it to the end (for the instruction
// budget), resetting a thread, patching the instruction stream and appending
// a function to an instance. Reached through the rule that explicit template
// instantiations do not check access. Tied to wabt 1.0.32 (the symbols were
// checked with nm): re-check on any wabt upgrade.

#include <vector>

#include "wabt/interp/interp.h"

namespace wow::wasm::interp::access {

namespace wi = wabt::interp;

template <class Tag, typename Tag::type P>
struct Expose {
  friend typename Tag::type Grab(Tag) { return P; }
};

struct PushValues {
  using type = void (wi::Thread::*)(const wi::ValueTypes&, const wi::Values&);
  friend type Grab(PushValues);
};
struct PushCall {
  using type = wi::RunResult (wi::Thread::*)(const wi::DefinedFunc&, wi::Trap::Ptr*);
  friend type Grab(PushCall);
};
struct PopValues {
  using type = void (wi::Thread::*)(const wi::ValueTypes&, wi::Values*);
  friend type Grab(PopValues);
};
struct Frames {
  using type = std::vector<wi::Frame> wi::Thread::*;
  friend type Grab(Frames);
};
struct ValueStack {
  using type = std::vector<wi::Value> wi::Thread::*;
  friend type Grab(ValueStack);
};
struct Refs {
  using type = std::vector<wi::u32> wi::Thread::*;
  friend type Grab(Refs);
};
struct Exceptions {
  using type = wi::RefVec wi::Thread::*;
  friend type Grab(Exceptions);
};
struct InstanceFuncs {
  using type = wi::RefVec wi::Instance::*;
  friend type Grab(InstanceFuncs);
};
struct IstreamData {
  using type = wi::Buffer wi::Istream::*;
  friend type Grab(IstreamData);
};

template struct Expose<PushValues, &wi::Thread::PushValues>;
template struct Expose<PushCall, &wi::Thread::PushCall>;  // the declared type selects the DefinedFunc overload
template struct Expose<PopValues, &wi::Thread::PopValues>;
template struct Expose<Frames, &wi::Thread::frames_>;
template struct Expose<ValueStack, &wi::Thread::values_>;
template struct Expose<Refs, &wi::Thread::refs_>;
template struct Expose<Exceptions, &wi::Thread::exceptions_>;
template struct Expose<InstanceFuncs, &wi::Instance::funcs_>;
template struct Expose<IstreamData, &wi::Istream::data_>;

}  // namespace wow::wasm::interp::access
