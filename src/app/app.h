// app.h: the UI module's state, filled by web/app.js (which talks to the compute worker) through
// the ui_on_* functions of main.cpp, and drawn by the panels of panels.cpp. The UI never computes
// a network: it asks through app_request() and shows what comes back.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

struct AppLayer {
    std::string name, kind;   // kind: conv, pool, dense, gap
    int h = 1, w = 1, c = 0;
};

struct AppMethod {           // a row of the core's method table (explain/methods.h), for this model
    std::string name, label, about;
    std::string unavailable;  // why this model cannot run it ("" if it can)
    bool head_input_only = false;
    bool in_menu = true;      // one of the heatmap menu's; the others (input gradients) serve the tools
    bool costly = false;
};

struct AppTool {             // a row of the core's tool table (explain/tools.h)
    std::string name, label, about;
};

// The Tools tab: its settings and the last result of each tool (cl_tool's JSON and maps).
struct AppTools {
    std::string open = "edit";    // the section shown: "edit" (the brush) or a tool's name
    std::string running;          // the tool being computed ("" = none)
    // occlusion
    int patch = 0, stride = 0;    // 0 until the model's defaults arrive
    bool logit_view = false;      // show the logit drop instead of the probability drop
    struct {
        int ny = 0, nx = 0, patch = 0, stride = 0, cls = -1;
        double ms = 0;
        std::vector<float> prob, logit;
        unsigned tex = 0;
        float lo = 0, hi = 1;     // the scale the texture is drawn with
        bool dirty = false;
    } occ;
    // faithfulness
    std::vector<std::string> ticked = {"gradcam", "saliency"};   // methods whose curves are asked for
    int steps = 20;
    struct Curve {
        std::string method, layer;
        std::vector<float> fraction, deletion, insertion;
        double deletion_auc = 0, insertion_auc = 0;
    };
    std::vector<Curve> curves;    // the methods' curves; random: the baseline (method "random")
    Curve random;
    int faith_cls = -1;
    double faith_ms = 0;
    // sanity
    int seed = 1;
    struct SanityCell {
        int step = 0;
        std::string randomised_to, method;
        double spearman = 1;
        unsigned tex = 0;
    };
    std::vector<SanityCell> sanity;   // step-major, as cl_tool sends them
    std::vector<std::string> survivors;
    std::string sanity_layer;
    int sanity_cls = -1;
    double sanity_ms = 0;
    // pointing game
    struct PointRow {
        std::string method, label, layer;
        double energy = -1;
        bool max_inside = false;
    };
    std::vector<PointRow> pointing;
    double object_share = 0;
    int pointing_cls = -1;
    bool pointing_user_mask = false;
    std::vector<uint8_t> default_mask;   // the model's default object, as the last run used it
    // the object the user marks (side x side, 1 = object; empty = the default) and how
    std::vector<uint8_t> mask;
    int mask_side = 0;
    int mask_mode = 0;            // 0 box, 1 paint, 2 rub out
    unsigned mask_tex = 0;
    bool mask_dirty = true;
};

struct AppPred {
    int index = 0;
    std::string name;
    float prob = 0, logit = 0;
};

struct AppSample {
    std::string name, url, group;   // group: a heading in the gallery
    std::string dataset;            // the dataset its group belongs to (model_dataset), "" for photos
    unsigned thumb = 0;
    int w = 0, h = 0;
};

// One explanation map (coarse, layer resolution) as the worker sent it.
struct AppHeat {
    std::string layer, method;
    int cls = -1, h = 0, w = 0;
    std::vector<float> map;       // h*w, raw (not normalised)
    std::vector<float> weights;   // per channel (Grad-CAM alpha), may be empty
    unsigned tex = 0;
};

// The classroom features (issue 15), as web/app.js tells them (ui_set_classroom, ui_on_compare):
// the model switch, the marker stamp, the two built-in models side by side.
struct AppClassroom {
    struct Model {
        std::string key, label;   // key: builtin, cheater, a URL or file:<name>
    };
    std::vector<Model> models;
    std::string current;          // the key of the model in use
    int marker_classes = 0;       // classes the stamp offers (a shortcut model's markers; 0: none known)
    int stamped = -1;             // the class whose marker is stamped (-1: none)
    bool compare = false;         // side by side on
    struct Row {                  // one model of side by side: its top-5 and the figure of its top-1's map
        std::string key, label, method, cls_name, layer;   // method: its label ("Grad-CAM")
        std::vector<AppPred> top;
        unsigned tex = 0;
        int w = 0, h = 0;
    };
    std::vector<Row> rows;
};

// A message in the toast area (drawn over the layout). kind: what caused it ("weights", "image",
// "explain", ...): when that kind of action later succeeds, web/app.js clears it.
struct AppMessage {
    std::string kind, text;
    bool error = true;
    double until = 0;             // ms (emscripten_get_now) when an info message goes; 0 = stays
};

struct App {
    // model
    bool model_ready = false;
    std::string model_name, model_describe, layout, head, preprocess, resize;
    std::string dataset, knows;   // model_dataset(), model_knows() of the core
    int input_size = 0, num_classes = 0, threads = 1;
    std::vector<AppLayer> layers;
    std::string last_conv;        // its name
    std::vector<AppMethod> methods;   // the whole table: in_menu ones in the heatmap menu
    std::vector<AppTool> tools;
    int occ_patch = 0, occ_stride = 0;   // the core's default occlusion patch and stride for this input
    uint8_t blank_rgb[3] = {0, 0, 0};
    std::vector<std::string> class_names;   // the model's metadata; empty for ImageNet / unnamed

    // result of the last forward
    bool have_result = false;
    std::vector<AppPred> top;
    std::vector<float> lo, hi;    // per-layer activation range
    int image_w = 0, image_h = 0;
    double ms_load = 0, ms_forward = 0, ms_backward = 0, ms_explain = 0;
    bool lean = false;   // a compact file's memory-lean convolutions
    unsigned image_tex = 0;       // what the network saw (input_size^2 RGB)
    int image_side = 0;
    std::vector<uint8_t> image_rgb;   // the same pixels (the pointing game's mask view)
    int edits = 0;                // brush strokes over the image (the compute module paints them)
    std::string image_name;

    // feature maps of the selected layer
    int layer = -1;               // selected layer index
    int act_layer = -1, act_h = 0, act_w = 0, act_c = 0;
    std::vector<float> act;       // HWC
    bool atlas_dirty = true;
    unsigned atlas_tex = 0;
    int atlas_cols = 0;
    int norm_scope = 1;           // 0 per channel, 1 per layer, 2 whole network
    int tile = 56;
    int zoom_channel = -1;
    bool sort_by_weight = false;

    // explanations
    std::string method = "gradcam";   // a method's name
    int cls = -1;                 // -1: top-1
    int cls2 = -1;                // second class for side by side (-1 = off)
    int cmap = 0;                 // index into cnnlens::kColormaps
    float alpha = 0.5f;
    int cam_layer = -1;           // layer index for the heatmap (-1 = last conv)
    bool guided = false;
    bool filmstrip = false;
    std::vector<AppHeat> heats;   // [0]: main, [1]: second class, then filmstrip
    std::vector<AppHeat> strip;
    unsigned guided_tex[2] = {0, 0};   // guided Grad-CAM, guided backprop (RGB, input resolution)
    int guided_side = 0;
    std::string chan_w_layer;     // Grad-CAM weights of the feature-map layer's channels
    std::vector<float> chan_w;
    bool strip_dirty = false;     // the filmstrip's textures must be scaled again
    bool strip_shared = false;    // false: every filmstrip map on its own scale; true: one scale for all
    std::vector<float> strip_lo, strip_hi;   // the scale each filmstrip map is shown with
    std::string explain_error;    // why the current map could not be computed ("" = fine)

    // the Tools tab and the brush
    AppTools tools_tab;
    AppClassroom classroom;
    float brush = 0;              // brush radius in input pixels (0: the default for the input size)
    bool brush_erase = true;      // erase to the blank colour, else paint brush_rgb
    float brush_rgb[3] = {1, 1, 1};
    std::vector<float> stroke;    // the stroke being drawn, x0 y0 x1 y1 ... in units of the input side

    // input
    std::vector<AppSample> samples;
    char image_url[512] = "";
    bool webcam_on = false;

    // model loading: VGG16's URL (the `vgg16=` URL parameter, else timm's vgg16.tv_in1k) is behind the
    // "Load VGG16" buttons; the Model tab's URL field starts with it
    std::string vgg16_url = "https://huggingface.co/timm/vgg16.tv_in1k/resolve/main/model.safetensors";
    char weights_url[512] = "https://huggingface.co/timm/vgg16.tv_in1k/resolve/main/model.safetensors";
    double weights_size = -1;     // from a HEAD request; -1 unknown, -2 asking
    std::string weights_size_error;

    // progress and messages
    bool busy = false;
    std::string progress_label;   // in the page's language (web/app.js translates it)
    bool progress_steps = false;  // it counts steps (positions, channels), not bytes
    double progress_done = 0, progress_total = 0;   // total 0 = indeterminate
    bool progress_cancellable = false;
    std::vector<AppMessage> messages;

    // class search
    char search[128] = "";

    // layout: the canvas in device pixels; the UI is laid out in logical pixels (CSS pixels / ui_scale)
    int width = 1280, height = 800;
    float ui_scale = 1;           // the user's UI scale (projectors), on top of the device pixel ratio
    bool embed = false;           // embed=1: a compact view for an iframe
    // the guided lesson (web/lesson.js; lesson=1&step=N): the step shown (1-based) of lesson_steps
    // (0: no lesson), its texts in the page's language
    int lesson_step = 0, lesson_steps = 0;
    std::string lesson_title, lesson_text, lesson_try;
    bool lesson_collapsed = false;   // folded to its title and buttons ("Hide the text"; phones)
    int frame = 0;
};

extern App g_app;

// A request to web/app.js, as a JSON object string: {"op": "...", ...}.
void app_request(const std::string& json);
// Sends the view state (layer, class, method, ...) so the worker computes what is shown.
void app_request_view();

void app_message(const std::string& kind, const std::string& text, bool error = true);
void app_draw();                    // panels.cpp: the whole interface, once per frame
// main.cpp: names the last item (cnnlens.item(name), cnnlens.focused()); marks it as a text field
// (Tab into it starts editing, as in a browser)
void app_mark(const std::string& name);
void app_mark_text_field();
std::string class_label(int index);   // the model's name for a class (model/predict.h)
const AppMethod* app_method(const std::string& name);   // null if the model has no such method
void app_send_mask();               // the marked object (tools_tab.mask) to the page and the worker
void clear_tool_results();
