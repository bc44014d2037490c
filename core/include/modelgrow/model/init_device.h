// Where the model's constructors allocate new tensors. Normally the CPU (a model is moved to its
// device after construction). `modelgrow validate` builds the manifest's model on the meta device
// instead: every name, shape and block list exists, no memory is spent on weights, and growth
// operators' checks run on it as they would on the real model.
#pragma once

#include <c10/core/Device.h>
#include <c10/core/TensorOptions.h>

namespace modelgrow {

// float32 on the current thread's model-init device.
c10::TensorOptions ModelInitOptions();

// Makes the current thread allocate new model tensors on `device` until destroyed.
class ModelInitDeviceScope {
 public:
  explicit ModelInitDeviceScope(c10::Device device);
  ~ModelInitDeviceScope();
  ModelInitDeviceScope(const ModelInitDeviceScope&) = delete;
  ModelInitDeviceScope& operator=(const ModelInitDeviceScope&) = delete;

 private:
  c10::Device previous_;
};

}  // namespace modelgrow
