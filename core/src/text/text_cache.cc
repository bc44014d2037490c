#include "modelgrow/text/text_cache.h"

#include <cctype>
#include <iostream>
#include <list>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/safetensors.h"

namespace modelgrow {

namespace {

// The folder name for a cache key: the key itself when it is a plain file name, otherwise a
// cleaned-up prefix plus a hash of the whole key (so distinct keys never share a folder).
std::string FolderName(const std::string& key) {
  bool plain = !key.empty() && key.size() <= 120 && key != "." && key != "..";
  std::string clean;
  for (char c : key) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    plain = plain && ok;
    if (clean.size() < 60) clean.push_back(ok ? c : '_');
  }
  return plain ? key : clean + "-" + ContentHash("text-cache").Add("key", key).Short();
}

std::string ShapeText(const at::Tensor& t) {
  if (!t.defined()) return "undefined";
  return fmt::format("[{}]", fmt::join(t.sizes(), ", "));
}

}  // namespace

struct TextEncoderCache::Impl {
  struct Entry {
    at::Tensor embedding;  // [L, D] float32, CPU
    at::Tensor mask;       // [L] bool, CPU
    int64_t bytes = 0;
    std::list<std::string>::iterator lru;
  };
  mutable std::mutex mutex;
  std::unordered_map<std::string, Entry> entries;
  std::list<std::string> lru;  // most recent first
  int64_t bytes = 0;
  int64_t limit = int64_t{2} << 30;
  std::filesystem::path folder;
  int64_t encoder_calls = 0, prompts_encoded = 0, hits = 0, disk_hits = 0;
  bool warned_unreadable = false;
  bool disk_writes_failed = false;

  std::filesystem::path FileFor(const std::string& prompt) const {
    return folder / (Sha256Hex(prompt) + ".safetensors");
  }

  void Insert(const std::string& prompt, at::Tensor embedding, at::Tensor mask) {
    auto it = entries.find(prompt);
    if (it != entries.end()) return;
    Entry e;
    e.bytes = embedding.numel() * embedding.element_size() + mask.numel();
    e.embedding = std::move(embedding);
    e.mask = std::move(mask);
    lru.push_front(prompt);
    e.lru = lru.begin();
    bytes += e.bytes;
    entries.emplace(prompt, std::move(e));
  }

  // Drops least recently used entries until under the limit, never the ones in `keep`.
  void Evict(const std::unordered_map<std::string, bool>& keep) {
    auto it = lru.end();
    while (bytes > limit && it != lru.begin()) {
      --it;
      if (keep.count(*it)) continue;
      auto entry = entries.find(*it);
      bytes -= entry->second.bytes;
      entries.erase(entry);
      it = lru.erase(it);
    }
  }

  void Touch(Entry& e) { lru.splice(lru.begin(), lru, e.lru); }

  bool ReadDisk(const std::string& prompt) {
    if (folder.empty()) return false;
    std::filesystem::path file = FileFor(prompt);
    if (!std::filesystem::exists(file)) return false;
    try {
      SafetensorsFile f = SafetensorsFile::Open(file);
      auto found = f.metadata().find("prompt");
      // A file for another prompt (a hash collision, or a damaged file) is not this entry.
      if (found == f.metadata().end() || found->second != prompt) return false;
      Insert(prompt, f.Get("embedding", at::kFloat), f.Get("mask").to(at::kBool));
      return true;
    } catch (const std::exception& e) {
      if (!warned_unreadable) {
        std::cerr << fmt::format(
            "modelgrow: warning: text cache file {} is unreadable ({}); "
            "encoding the prompt again\n",
            file.string(), e.what());
        warned_unreadable = true;
      }
      return false;
    }
  }

  void WriteDisk(const std::string& prompt, const at::Tensor& embedding, const at::Tensor& mask) {
    if (folder.empty() || disk_writes_failed) return;
    try {
      WriteSafetensors(FileFor(prompt), {{"embedding", embedding}, {"mask", mask}},
                       {{"prompt", prompt}});
    } catch (const RunError& e) {
      // The cache only saves time: a full or failing disk must not stop the run that uses it.
      // Each entry is written atomically, so none is left half-written; later ones stay in memory.
      std::cerr << fmt::format(
          "modelgrow: warning: cannot write to the text cache {} ({}); keeping its entries in "
          "memory only\n",
          folder.string(), e.what());
      disk_writes_failed = true;
    }
  }
};

TextEncoderCache::TextEncoderCache(std::shared_ptr<TextEncoder> encoder,
                                   std::filesystem::path disk_dir)
    : encoder_(std::move(encoder)), impl_(std::make_unique<Impl>()) {
  if (!encoder_) throw RunError("TextEncoderCache needs an encoder");
  if (!disk_dir.empty()) {
    impl_->folder = disk_dir / FolderName(encoder_->CacheKey());
    std::error_code ec;
    std::filesystem::create_directories(impl_->folder, ec);
    if (ec) {
      throw InputError(fmt::format("cannot create the text cache folder {}: {}",
                                   impl_->folder.string(), ec.message()));
    }
  }
}

TextEncoderCache::~TextEncoderCache() = default;

TextEncoding TextEncoderCache::Encode(const std::vector<std::string>& prompts) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Impl& impl = *impl_;
  std::vector<std::string> missing;
  std::unordered_map<std::string, bool> wanted;  // prompts of this batch: never evicted by it
  for (const std::string& prompt : prompts) {
    bool first_time_in_batch = wanted.emplace(prompt, true).second;
    auto it = impl.entries.find(prompt);
    if (it != impl.entries.end()) {
      impl.Touch(it->second);
      ++impl.hits;
    } else if (!first_time_in_batch) {
      ++impl.hits;  // a repeat within the batch: encoded once below
    } else if (impl.ReadDisk(prompt)) {
      ++impl.hits;
      ++impl.disk_hits;
    } else {
      missing.push_back(prompt);
    }
  }
  if (!missing.empty()) {
    TextEncoding fresh = encoder_->Encode(missing);
    const int64_t n = static_cast<int64_t>(missing.size());
    if (!fresh.embedding.defined() || fresh.embedding.dim() != 3 || fresh.embedding.size(0) != n ||
        !fresh.mask.defined() || fresh.mask.dim() != 2 || fresh.mask.size(0) != n ||
        fresh.mask.size(1) != fresh.embedding.size(1)) {
      throw RunError(fmt::format(
          "text encoder {} returned embedding {} and mask {} for {} prompts (expected [{}, L, D] "
          "and [{}, L])",
          encoder_->CacheKey(), ShapeText(fresh.embedding), ShapeText(fresh.mask), n, n, n));
    }
    ++impl.encoder_calls;
    impl.prompts_encoded += n;
    at::Tensor embedding = fresh.embedding.to(at::kCPU).to(at::kFloat);
    at::Tensor mask = fresh.mask.to(at::kCPU).to(at::kBool);
    for (int64_t i = 0; i < n; ++i) {
      at::Tensor e = embedding[i].clone(), m = mask[i].clone();
      impl.WriteDisk(missing[i], e, m);
      impl.Insert(missing[i], e, m);
    }
  }
  std::vector<at::Tensor> embeddings, masks;
  for (const std::string& prompt : prompts) {
    const Impl::Entry& e = impl.entries.at(prompt);
    embeddings.push_back(e.embedding);
    masks.push_back(e.mask);
  }
  for (size_t i = 1; i < embeddings.size(); ++i) {
    if (embeddings[i].sizes() != embeddings[0].sizes()) {
      throw RunError(fmt::format(
          "text cache for {}: entries of different shapes {} and {} (the encoder's max_length or "
          "dim changed without a new CacheKey)",
          encoder_->CacheKey(), ShapeText(embeddings[0]), ShapeText(embeddings[i])));
    }
  }
  TextEncoding out;
  if (prompts.empty()) {
    out.embedding = at::zeros({0, encoder_->max_length(), encoder_->dim()}, at::kFloat);
    out.mask = at::zeros({0, encoder_->max_length()}, at::kBool);
  } else {
    out.embedding = at::stack(embeddings);
    out.mask = at::stack(masks);
  }
  impl.Evict(wanted);
  return out;
}

int64_t TextEncoderCache::encoder_calls() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->encoder_calls;
}
int64_t TextEncoderCache::prompts_encoded() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->prompts_encoded;
}
int64_t TextEncoderCache::hits() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->hits;
}
int64_t TextEncoderCache::disk_hits() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->disk_hits;
}
void TextEncoderCache::set_memory_limit_bytes(int64_t bytes) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->limit = bytes;
  impl_->Evict({});
}
int64_t TextEncoderCache::memory_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->bytes;
}
std::filesystem::path TextEncoderCache::disk_folder() const { return impl_->folder; }

}  // namespace modelgrow
