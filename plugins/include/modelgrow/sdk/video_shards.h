// ModelGrow's HDF5 video shards for plugins: this SDK header re-exports the toolkit's shard
// reader (modelgrow/data/video_shard_reader.h: VideoShardReader, the format's name and version)
// and ResolveShardPaths (modelgrow/data/shard_paths.h), so a data plugin reads shards exactly as
// the host does. Both headers include SDK headers only. The format is in docs/formats.md.
#pragma once

#include "modelgrow/data/shard_paths.h"
#include "modelgrow/data/video_shard_reader.h"
