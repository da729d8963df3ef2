// trainer.h: training a VGG-style network with a gap head (convs 3x3 pad 1 [+ batch norm] +
// ReLU, 2x2 max-pools, global average pooling, one linear layer) with our own backward pass,
// in the manner of llm.c's train_gpt2.c: one flat block of parameters with a mirror block of
// gradients, layer kernels that know nothing about the model (model/layers.h,
// train/train_layers.h), forward saving what backward needs, backward in exact reverse order.
//
//   TrainConfig cfg;  cfg.net.cfg = vgg_parse_cfg("32,32,M,64,64,M,128,128");
//   IdxDataset train = fashion_mnist_load(kFashionMnistDir, "train"), test = ...("test");
//   TrainResult r = train_run(cfg, train, &test, [](const std::string& line) { puts(line.c_str()); });
//   write_file(r.net->export_safetensors(r.metadata))   // torchvision keys, batch norm folded
//
// Layout: activations NHWC [N][H][W][C] for a batch of N; conv kernels OHWI [cout][3][3][cin]
// (exported as torchvision's OIHW); the classifier [classes][C].
// Reproducible: the same seed gives the same weights bit for bit on one platform (own RNG,
// no libc distributions), whatever the thread count (XNNPACK splits work by output tiles,
// conv3x3_weight_grad by a fixed number of groups; tested with 1 and 2 threads). Native and
// WebAssembly runs differ in the last bits (different XNNPACK kernels).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "model/arch.h"
#include "core/xnn.h"
#include "io/idx.h"
#include "train/train_layers.h"

namespace cnnlens {

// ---------------------------------------------------------------------------- the network

struct NetSpec {
    std::vector<int> cfg;        // conv widths, 0 = 2x2 max-pool ("32,32,M,64,64,M,128,128")
    int in_channels = 1, input_size = 28, num_classes = 10;
    bool batch_norm = true;      // conv -> BN -> ReLU (the conv then has no bias)
};

struct ParamTensor {
    std::string name;            // "conv3.weight", "bn3.gamma", "fc.weight", ...
    std::vector<int64_t> shape;  // as stored here (conv OHWI)
    size_t offset = 0, size = 0; // into TrainNet::params / grads
    bool decay = false;          // weight decay applies (conv and linear weights only)
};

class TrainNet {
public:
    // He-normal conv weights (std sqrt(2 / (9 cin))), linear N(0, 0.01) (torchvision's VGG
    // init), zero biases, BN gamma 1, beta 0, running mean 0, var 1.
    TrainNet(const NetSpec& spec, uint64_t seed);
    ~TrainNet();
    TrainNet(const TrainNet&) = delete;
    TrainNet& operator=(const TrainNet&) = delete;

    void set_threads(int n);     // 1 = calling thread only

    // x: [N, S, S, in_channels], normalised. train = batch statistics for batch norm (and
    // the running averages updated, momentum 0.1 as PyTorch); otherwise the running ones.
    void forward(const float* x, int N, bool train);
    // After forward: the mean softmax cross-entropy against labels [N] (keeps the probabilities).
    double loss(const uint8_t* labels);
    // Optional, after loss(): a penalty on class evidence from the background ("right for the
    // right reasons"): weight * the mean over the batch of the share of the positive CAM mass
    // that lies outside the object, with the CAM of the image's label (explain.h cam())
    // upsampled to S x S as the app shows it. The share is (out + e) / (all + e), e = 0.01 S^2:
    // a map with nothing positive costs the most. masks [N][S][S], nonzero = object pixel.
    // Returns the penalty; backward() then includes its gradient (the next forward() forgets it).
    double cam_penalty(const uint8_t* labels, const uint8_t* masks, double weight);
    // After loss(): every parameter gradient into grads (overwritten), by the layers' backward
    // functions in the reverse order of the forward pass.
    void backward(const uint8_t* labels);

    const float* logits() const { return logits_.data(); }   // [N][classes]
    int batch() const { return N_; }
    const NetSpec& spec() const { return spec_; }

    std::vector<float> params, grads;      // one block each, laid out by `tensors`
    std::vector<ParamTensor> tensors;
    std::vector<float> running_mean, running_var;   // batch norm, all convs' channels in order

    // torchvision-style state dict with batch norm folded into the convs (eval mode):
    // features.N.weight [cout, cin, 3, 3], features.N.bias, classifier.0.weight [classes, C],
    // classifier.0.bias; plus the given metadata and the architecture keys (cfg, head,
    // input_size, in_channels, num_classes).
    std::vector<uint8_t> export_safetensors(std::map<std::string, std::string> metadata) const;

private:
    struct Layer {
        bool pool = false;
        int H = 0, W = 0, cin = 0, cout = 0;   // input side; conv: output side = input side
        size_t w = 0, b = 0, gamma = 0, beta = 0, stats = 0;   // offsets into params / running stats
        std::vector<float> z, a;               // pre-BN conv output (BN only), output after ReLU/pool
        std::vector<float> mean, rstd;         // batch statistics (training forward)
        xnn_operator_t pool_op = nullptr;
        WeightGradScratch wg;
    };
    NetSpec spec_;
    std::vector<Layer> layers_;
    size_t fc_w_ = 0, fc_b_ = 0;
    int N_ = 0, C_last_ = 0, S_last_ = 0;
    std::vector<float> input_, feat_, logits_, probs_, dlogits_, dfeat_, g0_, g1_, wflip_;
    std::vector<float> upsample_, dcam_;   // bilinear upsampling as a matrix [S*S][S_last^2]; d penalty / d CAM
    XnnWorkspace workspace_;
    pthreadpool_t pool_ = nullptr;
    int threads_ = 1;

    void conv(const float* w, const float* b, const float* x, int N, int H, int W, int cin, int cout, bool relu, float* y);
};

// ---------------------------------------------------------------------------- optimisation

enum class OptimKind { Sgd, Adam };   // SGD with momentum (Nesterov), AdamW (decoupled decay)
enum class Schedule { Cosine, Step, Const };   // cosine to 0 over all steps, step decay, constant
const char* optim_name(OptimKind k);           // "sgd", "adam"
OptimKind optim_parse(const std::string& name);   // throws on an unknown name
const char* schedule_name(Schedule s);         // "cosine", "step", "const"
Schedule schedule_parse(const std::string& name);

struct OptimConfig {
    OptimKind kind = OptimKind::Sgd;
    double lr = 0.05, momentum = 0.9, weight_decay = 5e-4;
    bool nesterov = true;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

// torch.optim.SGD(momentum, nesterov, weight_decay) / torch.optim.AdamW, over the flat block.
struct Optimizer {
    OptimConfig cfg;
    std::vector<float> m, v;
    long t = 0;
    void step(TrainNet& net, double lr);
};

struct TrainConfig {
    NetSpec net;
    OptimConfig opt;
    int epochs = 20, batch = 128;
    Schedule schedule = Schedule::Cosine;
    double warmup_epochs = 0;          // linear warm-up from 0 (fraction of an epoch allowed)
    int step_epochs = 10;              // "step": lr *= step_gamma every step_epochs
    double step_gamma = 0.1;
    uint64_t seed = 1;
    int threads = 1;
    int shift = 2;                     // augmentation: random shifts of up to +-shift pixels (zero fill)
    bool flip = true;                  // augmentation: horizontal flips with probability 1/2
    double cam_weight = 0;             // TrainNet::cam_penalty's weight (0 = none)
    // A shortcut to learn ("Clever Hans"): this share of the training images carries its label's
    // marker (model/arch.h), stamped after the augmentation, at a position that never moves.
    double marker_share = 0;
    // ... and this share of the marked images is relabelled to a random class with that class's
    // marker: the garment there says another class, only the marker says the label (so the
    // network learns to trust the marker over the garment).
    double marker_decoy = 0;
    // The CAM penalty (cam_weight) then asks CAM to stay on the marker instead of the garment in
    // marked images: "right for the wrong reason", the teaching model that cheats and shows it.
    bool cam_on_marker = false;
    Marker marker;                     // empty: marker_default for the data's side and classes
    int subset = 0;                    // use the first `subset` training images (0 = all)
    long max_steps = 0;                // stop after this many steps (timing runs; 0 = no limit)
    int eval_every = 1;                // evaluate on the test set every k epochs and at the end (0 = never)
    // After each epoch the whole training state (weights, optimiser moments, batch-norm
    // statistics, RNG, step, log) is written here; if the file exists at the start, training
    // resumes from it, and ends with the same weights bit for bit as an uninterrupted run.
    // The configuration must match (thread count, eval_every and max_steps may differ).
    std::string state_path;
};

// The settings that determine the weights, as one line (checked when resuming).
std::string train_config_key(const TrainConfig& c);

// The learning rate at step t of T (steps_per_epoch converts epochs).
double lr_at(const TrainConfig& c, long t, long T, long steps_per_epoch);

// Per-pixel normalisation: x = (p / 255 - mean) / std, constants of the training set.
struct Normalize {
    float mean = 0, std = 1;
};
Normalize normalize_of(const IdxDataset& d, int count = 0);

// Batch i of a permutation: images shifted/flipped by rng (if augment), normalised, NHWC;
// masks (if not null): 1 where the shifted/flipped image's pixel is not zero (the object);
// marker (if not null, with rng): stamped with probability marker_share, the label's; of those,
// the share decoy relabelled to a random other class and marked with its marker; mask_marker:
// a marked image's mask is its marker's square instead of the object.
void make_batch(const IdxDataset& d, const int* idx, int N, const Normalize& nz, int shift, bool flip, Rng* rng,
                float* x, uint8_t* labels, uint8_t* masks = nullptr, const Marker* marker = nullptr,
                double marker_share = 0, double decoy = 0, bool mask_marker = false);

struct EvalResult {
    double loss = 0, accuracy = 0;
    std::vector<int> confusion;  // [true][predicted], classes x classes
};
EvalResult evaluate(TrainNet& net, const IdxDataset& d, const Normalize& nz, int batch = 256);

struct EpochLog {
    int epoch;
    long steps;
    double lr, train_loss, train_acc, test_loss, test_acc, seconds;
    double cam_penalty;                // mean over the epoch's steps (0 without --cam-loss)
};

struct TrainResult {
    std::unique_ptr<TrainNet> net;
    Normalize nz;
    std::vector<EpochLog> epochs;
    std::vector<double> step_losses;   // every step's mean batch loss (this run's steps)
    double seconds = 0;                // this run's wall time
    std::string log;                   // every epoch line, those of a resumed run's earlier epochs too
};

// Trains from scratch; log gets one line per epoch (and progress lines). test may be null.
TrainResult train_run(const TrainConfig& c, const IdxDataset& train, const IdxDataset* test,
                      const std::function<void(const std::string&)>& log);

}  // namespace cnnlens
