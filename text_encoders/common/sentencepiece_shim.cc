#include "sentencepiece_shim.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

struct MgSpm {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

char* Copy(const std::string& s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

class Lines : public sentencepiece::SentenceIterator {
 public:
  Lines(const char* const* lines, size_t count) : lines_(lines), count_(count) {
    if (count_ > 0) value_ = lines_[0];
  }
  bool done() const override { return index_ >= count_; }
  void Next() override {
    ++index_;
    if (index_ < count_) value_ = lines_[index_];
  }
  const std::string& value() const override { return value_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const char* const* lines_;
  size_t count_;
  size_t index_ = 0;
  std::string value_;
};

}  // namespace

extern "C" {

void mgspm_release(void* buffer) { std::free(buffer); }

MgSpm* mgspm_load(const char* model, size_t size, char** error) {
  auto* spm = new MgSpm;
  auto status = spm->processor.LoadFromSerializedProto(std::string(model, size));
  if (!status.ok()) {
    if (error) *error = Copy(status.ToString());
    delete spm;
    return nullptr;
  }
  return spm;
}

void mgspm_free(MgSpm* spm) { delete spm; }

void mgspm_info(const MgSpm* spm, int* vocab, int* pad, int* eos, int* bos, int* unk) {
  *vocab = spm->processor.GetPieceSize();
  *pad = spm->processor.pad_id();
  *eos = spm->processor.eos_id();
  *bos = spm->processor.bos_id();
  *unk = spm->processor.unk_id();
}

int mgspm_encode(const MgSpm* spm, const char* text, size_t size, int** ids, size_t* count,
                 char** error) {
  std::vector<int> out;
  auto status = spm->processor.Encode(std::string(text, size), &out);
  if (!status.ok()) {
    if (error) *error = Copy(status.ToString());
    return 1;
  }
  *count = out.size();
  *ids = static_cast<int*>(std::malloc(sizeof(int) * (out.empty() ? 1 : out.size())));
  if (!out.empty()) std::memcpy(*ids, out.data(), sizeof(int) * out.size());
  return 0;
}

int mgspm_decode(const MgSpm* spm, const int* ids, size_t count, char** text, char** error) {
  std::string out;
  auto status = spm->processor.Decode(std::vector<int>(ids, ids + count), &out);
  if (!status.ok()) {
    if (error) *error = Copy(status.ToString());
    return 1;
  }
  *text = Copy(out);
  return 0;
}

char* mgspm_id_to_piece(const MgSpm* spm, int id) {
  if (id < 0 || id >= spm->processor.GetPieceSize()) return Copy("");
  return Copy(spm->processor.IdToPiece(id));
}

int mgspm_piece_to_id(const MgSpm* spm, const char* piece) {
  int id = spm->processor.PieceToId(piece);
  // SentencePiece answers unk_id for an unknown piece; only the unknown piece itself maps there.
  if (id == spm->processor.unk_id() && spm->processor.IdToPiece(id) != piece) return -1;
  return id;
}

int mgspm_train(const char* const* keys, const char* const* values, size_t argument_count,
                const char* const* lines, size_t line_count, char** model, size_t* model_size,
                char** error) {
  std::unordered_map<std::string, std::string> args;
  for (size_t i = 0; i < argument_count; ++i) args[keys[i]] = values[i];
  // Not a trainer flag: the seed of the library's own random generator.
  auto seed = args.find("random_seed");
  if (seed != args.end()) {
    sentencepiece::SetRandomGeneratorSeed(static_cast<unsigned int>(std::stoul(seed->second)));
    args.erase(seed);
  }
  Lines iterator(lines, line_count);
  std::string serialized;
  auto status = sentencepiece::SentencePieceTrainer::Train(args, &iterator, &serialized);
  if (!status.ok()) {
    if (error) *error = Copy(status.ToString());
    return 1;
  }
  *model_size = serialized.size();
  *model = static_cast<char*>(std::malloc(serialized.size() + 1));
  std::memcpy(*model, serialized.data(), serialized.size());
  return 0;
}

}  // extern "C"
