// The tests' fakes as plugins, for tests that run the real `modelgrow` binary: `test_words`
// (HashedWords) and `test_frames` (MovingBars), each built into its own library.
#include "fakes/hashed_words.h"
#include "fakes/moving_bars.h"

#if defined(MODELGROW_FAKE_TEXT)
MODELGROW_TEXT_ENCODER(modelgrow::testing::HashedWords, "test_words", "0.1.0",
                       "hashed word vectors (tests only)");
#elif defined(MODELGROW_FAKE_DATA)
MODELGROW_DATA_PIPELINE(modelgrow::testing::MovingBars, "test_frames", "0.1.0",
                        "moving bars with a direction label (tests only)");
#endif
