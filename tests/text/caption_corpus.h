// A small caption corpus for the text tests: deterministic sentences about simple scenes, enough
// for a SentencePiece model of a few hundred pieces and a tiny LLM to learn.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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

inline std::filesystem::path WriteCorpus(const std::filesystem::path& file, int count = 400) {
  std::ofstream out(file);
  for (const std::string& line : CaptionCorpus(count)) out << line << "\n";
  return file;
}

}  // namespace modelgrow::testing
