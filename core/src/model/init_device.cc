#include "modelgrow/model/init_device.h"

namespace modelgrow {

namespace {
thread_local c10::Device init_device(c10::DeviceType::CPU);
}  // namespace

c10::TensorOptions ModelInitOptions() {
  return c10::TensorOptions().dtype(c10::ScalarType::Float).device(init_device);
}

ModelInitDeviceScope::ModelInitDeviceScope(c10::Device device) : previous_(init_device) {
  init_device = device;
}

ModelInitDeviceScope::~ModelInitDeviceScope() { init_device = previous_; }

}  // namespace modelgrow
