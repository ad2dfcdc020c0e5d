// libFuzzer target: a training checkpoint as `nst-train --resume` reads it (load_checkpoint into a
// net and its Adam optimizer): LibTorch's zip/pickle archive, then our reads of its entries.
#include <cstdint>

#include "tests/fuzz/fuzz_support.h"
#include "train/checkpoint.h"

namespace {

nst::TransformerNetOptions tiny() { return nst::TransformerNetOptions().width(1).res_blocks(0); }

struct Run {
  nst::TransformerNet net{tiny()};
  torch::optim::Adam optimizer{net->parameters(), torch::optim::AdamOptions(1e-3)};
};

// One Adam step, so the optimizer state (step, exp_avg, exp_avg_sq) is in the archive.
void step(Run& run) {
  run.optimizer.zero_grad();
  run.net->forward(torch::rand({1, 3, 16, 16})).mean().backward();
  run.optimizer.step();
}

void write_seeds(const std::string& dir) {
  torch::manual_seed(0);
  Run fresh;
  nst::save_checkpoint(dir + "/fresh.pt", fresh.net, fresh.optimizer, {0, 0});
  Run trained;
  step(trained);
  step(trained);
  nst::save_checkpoint(dir + "/two_steps.pt", trained.net, trained.optimizer, {2, 8});
  // Another architecture: the shapes disagree with the net the target loads into.
  nst::TransformerNet other(tiny().res_blocks(1));
  torch::optim::Adam other_optimizer(other->parameters(), torch::optim::AdamOptions(1e-3));
  nst::save_checkpoint(dir + "/other_architecture.pt", other, other_optimizer, {1, 4});
}

}  // namespace

NST_FUZZ_INITIALIZE(write_seeds)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = nst::fuzz::write_input("ckpt.pt", data, size);
  Run run;  // fresh per input: a failed load may leave a net half restored
  nst::fuzz::run_may_refuse([&] {
    nst::load_checkpoint(path, run.net, run.optimizer);
    step(run);  // a checkpoint that loads must train on
  });
  return 0;
}
