// Helpers shared by the test suites.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "modelgrow/sdk/errors.h"
#include "test_paths.h"

namespace modelgrow::testing {

inline std::filesystem::path Fixture(const std::string& relative) {
  return std::filesystem::path(MODELGROW_TEST_FIXTURES) / relative;
}

// A fresh folder under the system temp dir, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "test";
    path_ = std::filesystem::temp_directory_path() /
            ("modelgrow-" + name + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& s) const { return path_ / s; }

 private:
  std::filesystem::path path_;
};

// max |a - b| / max |b|: the error relative to the reference's scale.
inline double MaxRelError(const at::Tensor& a, const at::Tensor& b) {
  double scale = b.abs().max().item<double>();
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>() /
         std::max(scale, 1e-30);
}

inline double MaxAbsError(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// Expects `statement` to throw E whose message contains every one of `parts`.
#define EXPECT_THROW_WITH(statement, E, ...)                                                    \
  do {                                                                                          \
    try {                                                                                       \
      statement;                                                                                \
      ADD_FAILURE() << "expected " #E " from: " #statement;                                     \
    } catch (const E& e) {                                                                      \
      std::string message = e.what();                                                           \
      for (const std::string& part : std::initializer_list<std::string>{__VA_ARGS__}) {         \
        EXPECT_NE(message.find(part), std::string::npos) << "message lacks '" << part << "':\n" \
                                                         << message;                            \
      }                                                                                         \
    }                                                                                           \
  } while (0)

}  // namespace modelgrow::testing
