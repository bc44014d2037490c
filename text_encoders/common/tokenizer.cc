#include "common/tokenizer.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "common/sentencepiece_library.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

struct SentencePieceTokenizer::Impl {
  MgSpm* spm = nullptr;
  std::string serialized;
  int vocab = 0, pad = -1, eos = -1, bos = -1, unk = -1;
  ~Impl() {
    if (spm) SentencePiece().free(spm);
  }
};

namespace {

// Takes ownership of a string the wrapper allocated.
std::string Take(char* text) {
  if (!text) return {};
  std::string out(text);
  SentencePiece().release(text);
  return out;
}

}  // namespace

SentencePieceTokenizer SentencePieceTokenizer::Load(const std::filesystem::path& file) {
  if (!std::filesystem::is_regular_file(file)) {
    throw InputError(fmt::format("SentencePiece model {} does not exist", file.string()));
  }
  SentencePieceTokenizer tokenizer = FromSerialized(ReadFile(file), file.string());
  tokenizer.path_ = file;
  return tokenizer;
}

SentencePieceTokenizer SentencePieceTokenizer::FromSerialized(const std::string& model_proto,
                                                              const std::string& source_name) {
  const SentencePieceLibrary& spm = SentencePiece();
  auto impl = std::make_shared<Impl>();
  char* error = nullptr;
  impl->spm = spm.load(model_proto.data(), model_proto.size(), &error);
  if (!impl->spm) {
    throw InputError(fmt::format("{} is not a SentencePiece model: {}", source_name, Take(error)));
  }
  spm.info(impl->spm, &impl->vocab, &impl->pad, &impl->eos, &impl->bos, &impl->unk);
  impl->serialized = model_proto;
  SentencePieceTokenizer tokenizer;
  tokenizer.impl_ = std::move(impl);
  tokenizer.path_ = source_name;
  return tokenizer;
}

int64_t SentencePieceTokenizer::vocab_size() const { return impl_->vocab; }
int64_t SentencePieceTokenizer::pad_id() const { return impl_->pad; }
int64_t SentencePieceTokenizer::eos_id() const { return impl_->eos; }
int64_t SentencePieceTokenizer::bos_id() const { return impl_->bos; }
int64_t SentencePieceTokenizer::unk_id() const { return impl_->unk; }

std::vector<int64_t> SentencePieceTokenizer::Encode(const std::string& text) const {
  int* ids = nullptr;
  size_t count = 0;
  char* error = nullptr;
  if (SentencePiece().encode(impl_->spm, text.data(), text.size(), &ids, &count, &error) != 0) {
    throw RunError(fmt::format("SentencePiece ({}) failed to encode a prompt: {}", path_.string(),
                               Take(error)));
  }
  std::vector<int64_t> out(ids, ids + count);
  SentencePiece().release(ids);
  return out;
}

std::string SentencePieceTokenizer::Decode(const std::vector<int64_t>& ids) const {
  std::vector<int> narrow(ids.begin(), ids.end());
  char* text = nullptr;
  char* error = nullptr;
  if (SentencePiece().decode(impl_->spm, narrow.data(), narrow.size(), &text, &error) != 0) {
    throw InputError(
        fmt::format("SentencePiece ({}) cannot decode: {}", path_.string(), Take(error)));
  }
  return Take(text);
}

std::string SentencePieceTokenizer::IdToPiece(int64_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return Take(SentencePiece().id_to_piece(impl_->spm, static_cast<int>(id)));
}

int64_t SentencePieceTokenizer::PieceToId(const std::string& piece) const {
  return SentencePiece().piece_to_id(impl_->spm, piece.c_str());
}

std::string SentencePieceTokenizer::Serialized() const { return impl_->serialized; }

std::filesystem::path FindSentencePieceModel(const std::filesystem::path& folder,
                                             const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (std::filesystem::is_regular_file(folder / name)) return folder / name;
  }
  std::string listed;
  for (const std::string& name : names) listed += (listed.empty() ? "" : " or ") + name;
  // Callers read a tokenizer.json first (ModelTokenizer): here the folder has neither.
  throw InputError(fmt::format(
      "{} has no tokenizer: expected a Hugging Face tokenizer.json or a SentencePiece model {}",
      folder.string(), listed));
}

void CheckTokenizerFits(const SentencePieceTokenizer& tokenizer, int64_t vocab_size,
                        const std::filesystem::path& config_file) {
  if (tokenizer.vocab_size() > vocab_size) {
    throw InputError(fmt::format(
        "tokenizer {} has {} pieces but {} says vocab_size {}: the tokenizer does not belong to "
        "this model",
        tokenizer.path().string(), tokenizer.vocab_size(), config_file.string(), vocab_size));
  }
}

TokenizedBatch TokenizeBatch(const SentencePieceTokenizer& tokenizer,
                             const std::vector<std::string>& prompts, const PaddingSpec& spec) {
  const int64_t batch = static_cast<int64_t>(prompts.size());
  const int64_t length = spec.max_length;
  const int64_t specials = (spec.add_bos ? 1 : 0) + (spec.add_eos ? 1 : 0);
  if (length <= specials) {
    throw InputError(fmt::format("max_length {} leaves no room for a prompt's tokens", length));
  }
  if (spec.add_bos && tokenizer.bos_id() < 0) {
    throw InputError(
        fmt::format("{} defines no BOS piece, but BOS is to be added", tokenizer.path().string()));
  }
  if (spec.add_eos && tokenizer.eos_id() < 0) {
    throw InputError(
        fmt::format("{} defines no EOS piece, but EOS is to be added", tokenizer.path().string()));
  }
  TokenizedBatch out;
  out.ids = at::full({batch, length}, spec.pad_id, at::kLong);
  out.mask = at::zeros({batch, length}, at::kBool);
  auto ids = out.ids.accessor<int64_t, 2>();
  auto mask = out.mask.accessor<bool, 2>();
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int64_t> pieces = tokenizer.Encode(prompts[b]);
    int64_t total = static_cast<int64_t>(pieces.size()) + specials;
    out.lengths.push_back(total);
    if (total > length) {
      ++out.truncated;
      pieces.resize(length - specials);
    }
    int64_t t = 0;
    if (spec.add_bos) ids[b][t++] = tokenizer.bos_id();
    for (int64_t id : pieces) ids[b][t++] = id;
    if (spec.add_eos) ids[b][t++] = tokenizer.eos_id();
    for (int64_t i = 0; i < t; ++i) mask[b][i] = true;
  }
  return out;
}

}  // namespace modelgrow
