// The precompiled header every LibTorch translation unit reuses (compiled once, ~20 s).
#pragma once

#include <torch/torch.h>
