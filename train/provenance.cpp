#include "train/provenance.h"

#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <sstream>

#include "core/errors.h"
#include "train/run_log.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace nst {

namespace {

// SHA-256 of what `feed` passes to EVP_DigestUpdate, as lower-case hex.
std::string sha256_hex(const std::function<void(EVP_MD_CTX*)>& feed) {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  EVP_DigestInit_ex(context, EVP_sha256(), nullptr);
  feed(context);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context, digest, &length);
  EVP_MD_CTX_free(context);
  std::ostringstream hex;
  for (unsigned int i = 0; i < length; ++i) hex << std::hex << std::setw(2) << std::setfill('0') << int(digest[i]);
  return hex.str();
}

}  // namespace

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw path_error(path, "cannot open");
  return sha256_hex([&](EVP_MD_CTX* context) {
    char buffer[1 << 16];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) EVP_DigestUpdate(context, buffer, static_cast<size_t>(in.gcount()));
  });
}

std::string sha256_bytes(std::string_view bytes) {
  return sha256_hex([&](EVP_MD_CTX* context) { EVP_DigestUpdate(context, bytes.data(), bytes.size()); });
}

json model_provenance(const TrainOptions& options, const TrainingOutcome& outcome) {
  const auto blend = style_blend_for(options.loss(), options.style_images().size());
  json style_provenance = json::array();
  for (size_t i = 0; i < options.style_images().size(); ++i)
    style_provenance.push_back({{"name", fs::path(options.style_images()[i]).filename().string()},
                                {"sha256", sha256_file(options.style_images()[i])},
                                {"weight", blend[i]}});
  const LossOptions& loss = options.loss();
  const std::string weights = loss.weights_file() == "random" ? "random" : fs::path(loss.weights_file()).filename().string();
  const json init = options.init_model().empty()
                        ? json(nullptr)
                        : json{{"name", fs::path(options.init_model()).filename().string()},
                               // the file may be gone by the end of a long run: the name still says where it started
                               {"sha256", fs::is_regular_file(options.init_model()) ? json(sha256_file(options.init_model())) : json(nullptr)}};
  return {{"tool", "nst-train"},
          {"style_images", style_provenance},
          {"style_size", options.style_size()},
          {"loss_network", {{"name", kLossNetworkChoices.name(loss.network())}, {"weights", weights}, {"preprocess", outcome.loss_network_preprocess}}},
          {"loss_weights", {{"content", loss.weights().content_weight},
                            {"style", loss.weights().style_weight},
                            {"tv", loss.weights().tv_weight},
                            {"content_layers", loss.weights().content_layers},
                            {"style_layers", loss.weights().style_layers},
                            {"style_normalize", kStyleNormalizeChoices.name(loss.weights().style_normalize)}}},
          {"init_model", init},
          {"iterations", outcome.iterations},
          {"batch_size", options.train().batch_size()},
          {"image_size", options.data().image_size()},
          {"seed", options.seed()},
          {"final_losses", outcome.final_losses},
          {"date", now_iso8601()},
          {"config", outcome.config_yaml}};
}

}  // namespace nst
