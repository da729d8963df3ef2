// cli.h: what the CLI's files share (main.cpp: the command table and the inference commands;
// train_cmd.cpp: train, eval, samples): the parsed --flags and their accessors.
#pragma once
#include <map>
#include <string>

namespace cnnlens {

using Args = std::map<std::string, std::string>;   // --flag value

std::string arg(const Args& a, const char* k, const std::string& def = "");
std::string arg_need(const Args& a, const char* k);   // throws "missing --k"
double arg_num(const Args& a, const char* k, double def, double lo, double hi);
int arg_int(const Args& a, const char* k, int def, int lo, int hi);
// --weights, or the built-in model (assets/fashion_mnist_vgg_gap.safetensors; the path in the
// source tree is compiled in). Throws when neither exists.
std::string weights_path(const Args& a);

int cmd_train(Args& a);
int cmd_eval(Args& a);
int cmd_samples(Args& a);

}  // namespace cnnlens
