// The one tiny experiment every engine test starts from, so each test states only what it
// changes: a 0.03M-parameter STDiT3 (hidden 32, one block per list), the `test_words` text
// encoder, `test_frames` data (tests/fakes), and pretrain (3 steps) -> grow (the counting
// operator) -> continue (2 steps).
//
//   std::string text = TinyManifest("cheap").LrSweep({"high", "low"}).Text();
//   std::string text = TinyManifest("eval").SyntheticData(32).Evaluation().Text();
//
// Tables come out in a fixed order and layout, so a test can still edit the text (Replace) and
// find the line a problem is reported on.
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace modelgrow::testing {

class TinyManifest {
 public:
  explicit TinyManifest(const std::string& name) {
    Table("experiment", "name = \"" + name + "\"\nthreads = 1\n");
    Table(
        "model",
        "preset = \"STDiT3-T/2\"\nhidden_size = 32\ndepth = 1\nnum_heads = 2\ntext = \"words\"\n");
    Table("text.words", "plugin = \"test_words\"\ndim = 16\n");
    Table("data.base", "plugin = \"test_frames\"\nsize = 16\n");
    Table("stages.pretrain",
          "kind = \"pretrain\"\ndata = \"base\"\nsteps = 3\nbatch_size = 4\nworkers = 1\n");
    Table("stages.grow",
          "kind = \"grow\"\nfrom = \"pretrain\"\n"
          "ops = [{plugin = \"counting\", factor = 2}]\n");
    Table("stages.continue",
          "kind = \"continue\"\nfrom = \"grow\"\ndata = \"base\"\nsteps = 2\nbatch_size = 4\n"
          "workers = 1\n");
    Table("stages.continue.optim", "lr = 1e-3\n");
  }

  // Sets a table's body: in place when the table exists; otherwise a new [data.*] or [text.*]
  // table goes before the stages (as a person would write it) and any other at the end.
  TinyManifest& Table(const std::string& header, const std::string& body) {
    for (auto& [h, b] : tables_) {
      if (h == header) {
        b = body;
        return *this;
      }
    }
    auto at = tables_.end();
    if (header.starts_with("data.") || header.starts_with("text.")) {
      at = std::find_if(tables_.begin(), tables_.end(),
                        [](const auto& t) { return t.first.starts_with("stages."); });
    }
    tables_.emplace(at, header, body);
    return *this;
  }
  // Removes a table and its subtables ([stages.continue] takes [stages.continue.optim] along).
  TinyManifest& Without(const std::string& header) {
    std::erase_if(tables_, [&](const auto& t) {
      return t.first == header || t.first.starts_with(header + ".");
    });
    return *this;
  }
  // TOML appended after every table ([[sweep.axis]] and the like).
  TinyManifest& Raw(const std::string& toml) {
    raw_ += toml;
    return *this;
  }

  // Real videos with labels instead of test_frames: data.train (synthetic, 16x16, 4 frames) and
  // data.heldout; the stages train on data.train and grow by zero-initialised insert stacking.
  TinyManifest& SyntheticData(int train_size) {
    Without("data.base");
    Table("data.train", "plugin = \"synthetic\"\nsize = " + std::to_string(train_size) +
                            "\nframes = 4\nheight = 16\nwidth = 16\n");
    Table("data.heldout", "inherit = \"train\"\nsplit = \"heldout\"\nsize = 4\n");
    Table("stages.pretrain",
          "kind = \"pretrain\"\ndata = \"train\"\nsteps = 6\nbatch_size = 4\nworkers = 1\n"
          "log_every = 2\n");
    Table("stages.grow",
          "kind = \"grow\"\nfrom = \"pretrain\"\n"
          "ops = [{plugin = \"stack\", placement = \"insert\", init = \"zero\"}]\n");
    Table("stages.continue",
          "kind = \"continue\"\nfrom = \"grow\"\ndata = \"train\"\ncaption = \"detailed\"\n"
          "steps = 4\nbatch_size = 4\nworkers = 1\nlog_every = 2\n");
    return *this;
  }

  // An evaluate stage after `continue` with the pretrained model as baseline, on the held-out
  // data, with a classifier trained for a few steps (SyntheticData first).
  TinyManifest& Evaluation(int grid_prompts = 1) {
    return Table("stages.evaluate",
                 "kind = \"evaluate\"\nfrom = \"continue\"\nbaseline = \"pretrain\"\n"
                 "domains = {base = \"heldout\"}\nsamples = 2\nsampling_steps = 2\n"
                 "loss_samples = 2\ngrid_prompts = " +
                     std::to_string(grid_prompts) +
                     "\n"
                     "classifier = {data = \"train\", steps = 5, batch_size = 4, width = 4}\n");
  }

  // A sweep over the continue stage's learning rate (1e-3 and 3e-4, labelled as given).
  TinyManifest& LrSweep(const std::string& high, const std::string& low,
                        const std::string& low_value = "3e-4") {
    return Raw(
        "[[sweep.axis]]\nname = \"lr\"\nkey = \"stages.continue.optim.lr\"\nvalues = [1e-3, " +
        low_value + "]\nlabels = [\"" + high + "\", \"" + low + "\"]\n");
  }

  std::string Text() const {
    std::string text;
    for (const auto& [header, body] : tables_) text += "[" + header + "]\n" + body + "\n";
    return text + raw_;
  }

 private:
  std::vector<std::pair<std::string, std::string>> tables_;
  std::string raw_;
};

}  // namespace modelgrow::testing
