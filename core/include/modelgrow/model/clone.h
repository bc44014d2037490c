// A deep copy of a whole STDiT3: same config, LoRA adapters, values, buffers, trainable flags,
// device and train/eval mode, in new tensors (nothing is shared with the source).
#pragma once

#include "modelgrow/model/stdit3.h"

namespace modelgrow {

STDiT3 CloneModel(const STDiT3Impl& source);

}  // namespace modelgrow
