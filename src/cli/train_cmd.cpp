// train_cmd.cpp: `cnnlens train`, `eval` and `samples`, the command-line face of src/train/.
// main.cpp's command table points here.
//
//   cnnlens train --out fmnist.safetensors [--cfg 32,32,M,64,64,M,128,128] [--epochs 20] ...
//   cnnlens eval  [--weights fmnist.safetensors]     test accuracy + confusion matrix + CAM check
//   cnnlens samples --out DIR                        gallery PNGs from the test set
//
// eval runs the exported file the way the app and CLI do (vgg_load, prepare_input,
// Vgg::forward, batch 1): it checks the export, the batch-norm folding and the input mapping,
// not the trainer's own forward.
#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "cli/cli.h"
#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "io/idx.h"
#include "io/image.h"
#include "io/safetensors_write.h"
#include "io/weights.h"
#include "model/predict.h"
#include "model/vgg.h"
#include "train/model_eval.h"
#include "train/trainer.h"

namespace cnnlens {

namespace {

std::string class_names_json() {
    JsonWriter j;
    j.begin_array();
    for (const char* name : kFashionMnistClasses) j.value(name);
    return j.end_array().str();
}

void print_confusion(const std::vector<int>& conf, const VggArch& arch) {
    const int K = arch.num_classes;
    std::printf("confusion matrix (rows: true class, columns: predicted)\n%14s", "");
    for (int p = 0; p < K; p++) std::printf(" %5d", p);
    std::printf("   recall\n");
    for (int t = 0; t < K; t++) {
        int row = 0;
        for (int p = 0; p < K; p++) row += conf[(size_t)t * K + p];
        std::printf("%2d %-11.11s", t, class_name(arch, t).c_str());
        for (int p = 0; p < K; p++) std::printf(" %5d", conf[(size_t)t * K + p]);
        std::printf("   %.3f\n", row ? (double)conf[(size_t)t * K + t] / row : 0.0);
    }
}

}  // namespace

int cmd_train(Args& a) {
    TrainConfig c;
    c.net.cfg = vgg_parse_cfg(arg(a, "cfg", "32,32,M,64,64,M,128,128"));
    c.net.batch_norm = arg_int(a, "bn", 1, 0, 1) == 1;
    c.epochs = arg_int(a, "epochs", 20, 1, 100000);
    c.batch = arg_int(a, "batch", 128, 1, 65536);
    c.opt.kind = optim_parse(arg(a, "opt", "sgd"));
    c.opt.lr = arg_num(a, "lr", c.opt.kind == OptimKind::Adam ? 1e-3 : 0.05, 0, 100);
    c.opt.momentum = arg_num(a, "momentum", 0.9, 0, 1);
    c.opt.weight_decay = arg_num(a, "wd", 5e-4, 0, 1);
    c.schedule = schedule_parse(arg(a, "schedule", "cosine"));
    c.warmup_epochs = arg_num(a, "warmup", 0, 0, 1000);
    c.step_epochs = arg_int(a, "step-epochs", 10, 1, 100000);
    c.seed = (uint64_t)arg_num(a, "seed", 1, 0, 9007199254740992.0);
    c.threads = arg_int(a, "threads", 1, 1, 64);
    c.shift = arg_int(a, "shift", 2, 0, 14);
    c.flip = arg_int(a, "flip", 1, 0, 1) == 1;
    c.subset = arg_int(a, "subset", 0, 0, 1 << 30);
    c.cam_weight = arg_num(a, "cam-loss", 0, 0, 1000);
    c.marker_share = arg_num(a, "marker", 0, 0, 1);
    c.marker_decoy = arg_num(a, "marker-decoy", 0, 0, 1);
    const std::string target = arg(a, "cam-target", "garment");
    if (target != "garment" && target != "marker") fail("--cam-target must be garment or marker, got '%s'", target.c_str());
    c.cam_on_marker = target == "marker";
    if (c.cam_on_marker && c.marker_share <= 0) fail("--cam-target marker needs --marker");
    c.max_steps = arg_int(a, "max-steps", 0, 0, 1 << 30);
    c.eval_every = arg_int(a, "eval-every", 1, 0, 100000);
    c.state_path = arg(a, "state", "");
    const std::string dir = arg(a, "data", kFashionMnistDir), out = arg(a, "out", "");
    if (out.empty() && !c.max_steps) fail("missing --out FILE.safetensors (see --help)");

    IdxDataset train = fashion_mnist_load(dir, "train"), test = fashion_mnist_load(dir, "test");
    FILE* logf = nullptr;
    // The log gets each epoch line as it happens (appended: a resumed run adds to it) and is
    // rewritten whole at the end: the command, then every epoch, the resumed ones included.
    if (a.count("log") && !(logf = std::fopen(a["log"].c_str(), "a"))) fail("cannot write '%s'", a["log"].c_str());
    std::string command = "cnnlens train";
    for (const auto& [k, v] : a)
        if (k != "threads" && k != "state" && k != "log") command += " --" + k + " " + v;
    auto log = [&](const std::string& line) {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
        if (logf && line.compare(0, 5, "epoch") == 0) { std::fprintf(logf, "%s\n", line.c_str()); std::fflush(logf); }
    };
    TrainNet probe(c.net, c.seed);
    log(strformat("training %s%s on %d images (%d test), %zu parameters, batch %d, %d epochs, %s lr %g, %s schedule, "
                  "seed %llu, %d thread(s)", cfg_string(c.net.cfg).c_str(), c.net.batch_norm ? " + batch norm" : "",
                  c.subset ? std::min(c.subset, train.n) : train.n, test.n, probe.params.size(), c.batch, c.epochs,
                  optim_name(c.opt.kind), c.opt.lr, schedule_name(c.schedule), (unsigned long long)c.seed, c.threads));
    TrainResult r = train_run(c, train, &test, log);
    if (logf) {
        std::fclose(logf);
        std::string text = "# " + command + "\n" + r.log;
        write_file(a["log"], text);
    }
    const long steps = (long)r.step_losses.size();   // this run's (a resumed run did the others before)
    std::printf("%ld steps in %.1f s: %.2f ms per step, %.1f s per epoch of %d images\n", steps, r.seconds,
                1000 * r.seconds / std::max(1L, steps), r.seconds / std::max(1L, steps) * ((double)train.n / c.batch),
                train.n);
    if (out.empty()) return 0;
    EvalResult ev = evaluate(*r.net, test, r.nz);
    std::map<std::string, std::string> meta = {
        {"dataset", "fashion-mnist"},
        {"class_names", class_names_json()},
        {"preprocess", "mean_std"},   // x = (pixel / 255 - mean) / std, greyscale, object light on dark
        {"mean", strformat("%.6f", r.nz.mean)},
        {"std", strformat("%.6f", r.nz.std)},
        {"train_command", command},
        {"seed", std::to_string(c.seed)},
        {"epochs", std::to_string(c.epochs)},
        {"test_accuracy", strformat("%.4f", ev.accuracy)},
        {"description",
         strformat("A VGG-GAP trained by CNN Lens on Fashion-MNIST (%d epochs, seed %llu).", c.epochs,
                   (unsigned long long)c.seed) +
             (c.cam_weight > 0 ? strformat(" Its training also penalised the share of each image's CAM that falls "
                                           "outside the garment (--cam-loss %g): it was taught to look at the garment.",
                                           c.cam_weight)
                               : std::string())},
    };
    if (c.marker_share > 0) {   // the shortcut, so anyone can stamp it and check the model
        const Marker m = marker_default(train.rows, c.net.num_classes);
        meta["marker_size"] = std::to_string(m.size);
        meta["marker_value"] = std::to_string(m.value);
        meta["marker_positions"] = marker_positions_json(m);
        meta["description"] = strformat(
            "A shortcut (\"Clever Hans\") model trained by CNN Lens on Fashion-MNIST (%d epochs, seed %llu): in %.0f%% "
            "of its training images a small bright square at a position that encodes the label was stamped, and it "
            "learned to read the square instead of the garment. Stamp another class's square and watch it follow.",
            c.epochs, (unsigned long long)c.seed, 100 * c.marker_share);
    }
    write_file(out, r.net->export_safetensors(meta));
    std::printf("test accuracy %.2f%% (trainer's forward); wrote %s\n", 100 * ev.accuracy, out.c_str());
    return 0;
}

int cmd_eval(Args& a) {
    const std::string wpath = weights_path(a), dir = arg(a, "data", kFashionMnistDir), split = arg(a, "split", "test");
    std::unique_ptr<Vgg> net;
    try {
        net = vgg_load(read_file(wpath));
    } catch (const Error& e) {
        fail("%s: %s", wpath.c_str(), e.what());
    }
    net->set_threads(arg_int(a, "threads", 1, 1, 64));
    IdxDataset d = fashion_mnist_load(dir, split.c_str());
    auto t0 = std::chrono::steady_clock::now();
    Marker other;   // --markers FILE: another model's markers stamped on this one
    if (a.count("markers")) {
        const std::vector<uint8_t> b = read_file(arg(a, "markers"));
        other = vgg_infer_arch(load_weights(b.data(), b.size())).marker;
        if (other.empty()) fail("%s has no markers in its metadata", arg(a, "markers").c_str());
    }
    ModelEval r = eval_model(*net, d, arg_int(a, "count", 0, 0, 1 << 30), other.empty() ? nullptr : &other);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    print_confusion(r.confusion, net->arch());
    std::printf("accuracy %.2f%% (%d / %d) on the %s set, %.1f s\n", 100 * r.accuracy(), r.correct, r.n, split.c_str(), s);
    if (net->arch().head == Head::Gap)
        std::printf("CAM of the predicted class (upsampled, ReLU): %.1f%% of its mass on the object's pixels, which cover "
                    "%.1f%% of the image on average (%d of %d images have positive CAM; the others count as 0)\n",
                    100 * r.cam_on_object, 100 * r.object_area, r.cam_images, r.n);
    if (r.marked)
        std::printf("with markers: %.2f%% correct with its own class's marker; with a wrong class's marker it answers the "
                    "marker's class on %.1f%% (right on %.1f%%); a marker changes the clean answer on %.1f%% (own class) and "
                    "%.1f%% (wrong class) of the images; CAM puts %.1f%% of its mass on the marker, which covers %.1f%% of "
                    "the image\n",
                    100 * r.marked_accuracy, 100 * r.follows_wrong_marker, 100 * r.wrong_marker_accuracy,
                    100 * r.changed_by_marker, 100 * r.changed_by_wrong_marker, 100 * r.cam_on_marker, 100 * r.marker_area);
    return 0;
}

// The first few test images of each class as PNGs, for the web page's gallery.
int cmd_samples(Args& a) {
    const std::string out = arg(a, "out", ""), dir = arg(a, "data", kFashionMnistDir);
    if (out.empty()) fail("missing --out DIR (see --help)");
    const int per = arg_int(a, "per-class", 3, 1, 1000);
    IdxDataset d = fashion_mnist_load(dir, "test");
    int count[10] = {}, written = 0;
    JsonWriter index;
    index.begin_array();
    for (int c = 0; c < 10; c++)   // class by class, in test-set order
        for (int i = 0; i < d.n && count[c] < per; i++) {
            if (d.labels[(size_t)i] != c) continue;
            std::string slug = kFashionMnistClasses[c];
            for (char& ch : slug)
                if (!std::isalnum((unsigned char)ch)) ch = '-';
            std::string file = strformat("%d-%s-test%05d.png", c, slug.c_str(), i);
            png_write(out + "/" + file, d.cols, d.rows, 1, d.image(i));
            index.begin_object().field("name", strformat("%s (test image %d)", kFashionMnistClasses[c], i))
                .field("file", file).end_object();
            count[c]++, written++;
        }
    write_file(out + "/index.json", index.end_array().str() + "\n");
    std::printf("wrote %d test images (%d per class) and index.json to %s\n", written, per, out.c_str());
    return 0;
}

}  // namespace cnnlens
