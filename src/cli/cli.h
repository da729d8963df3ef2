// cli.h: what the CLI's two files share (main.cpp: inference commands and the command table;
// train_cmd.cpp: train, eval, samples).
#pragma once
#include <map>
#include <string>

namespace cnnlens {

using Args = std::map<std::string, std::string>;

// --weights, or the built-in model (assets/fashion_mnist_vgg_gap.safetensors; the path in the
// source tree is compiled in). Throws when neither exists.
std::string weights_path(Args& a);

int cmd_train(Args& a);
int cmd_eval(Args& a);
int cmd_samples(Args& a);

}  // namespace cnnlens
