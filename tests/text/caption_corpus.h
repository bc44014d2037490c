// A small caption corpus for the text tests: deterministic sentences about simple scenes, enough
// for a SentencePiece model of a few hundred pieces and a tiny LLM to learn.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "modelgrow/sdk/text_encoder.h"

namespace modelgrow::testing {

inline std::vector<std::string> CaptionCorpus(int count = 400) {
  const std::vector<std::string> colors = {"red", "green", "blue", "yellow", "white", "black"};
  const std::vector<std::string> shapes = {"cube", "sphere", "cone", "cylinder", "pyramid"};
  const std::vector<std::string> motions = {"moves left",          "moves right",
                                            "rolls forward",       "spins slowly",
                                            "bounces up and down", "falls from the sky"};
  const std::vector<std::string> places = {"on a grey floor", "across a wooden table",
                                           "in a dark room", "under a bright light",
                                           "near a tall wall"};
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    out.push_back("a " + colors[i % colors.size()] + " " + shapes[(i / 3) % shapes.size()] + " " +
                  motions[(i / 7) % motions.size()] + " " + places[(i / 11) % places.size()] +
                  (i % 4 == 0 ? ", the camera follows it" : ""));
  }
  return out;
}

// (short, detailed) pairs for rewriting: the short caption names the object and its motion, the
// detailed one says everything CaptionCorpus says.
inline std::vector<CaptionPair> CaptionPairs(int count = 400) {
  std::vector<CaptionPair> pairs;
  std::vector<std::string> detailed = CaptionCorpus(count);
  for (const std::string& d : detailed) {
    // "a red cube moves left on a grey floor" -> "a red cube moves left"
    size_t cut = d.find(" on ");
    for (const char* place : {" across ", " in ", " under ", " near "}) {
      cut = std::min(cut, d.find(place));
    }
    pairs.push_back({d.substr(0, cut), d});
  }
  return pairs;
}

inline std::filesystem::path WriteCorpus(const std::filesystem::path& file, int count = 400) {
  std::ofstream out(file);
  for (const std::string& line : CaptionCorpus(count)) out << line << "\n";
  return file;
}

}  // namespace modelgrow::testing
