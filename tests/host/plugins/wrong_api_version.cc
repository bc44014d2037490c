// A plugin built for a future SDK: it reports API version 999.
#include "modelgrow/sdk/plugin.h"

MODELGROW_PLUGIN_EXPORT int modelgrow_plugin_api_version() { return 999; }
MODELGROW_PLUGIN_EXPORT const modelgrow::PluginDescriptor* modelgrow_plugin_descriptor() {
  return nullptr;
}
