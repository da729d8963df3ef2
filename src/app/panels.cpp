// panels.cpp: the interface, rebuilt every frame from g_app (Dear ImGui immediate mode).
//
// Three layouts, all in logical pixels (CSS pixels / UI scale; main.cpp scales to the device):
//   wide (>= kWideMin): Input and Predictions on the left (side by side when there is room), the
//         gallery below them, tabs Feature maps / Where it looks / Model on the right;
//   narrow (phones): one tab per panel;
//   embed (embed=1, an iframe): the chosen view sized to the frame, the few controls it needs and a
//         link to the full page; never the phone layout at a blog's usual widths.
// Messages go to a toast area drawn over the layout, so nothing moves when one comes or goes.
// Everything is a plain ImGui widget: mouse, touch (web/app.js makes a finger the mouse) and the
// keyboard (Tab / Shift+Tab, arrows, Enter or Space, Escape; main.cpp) all work.
#include <strings.h>

#include <algorithm>
#include <cstdarg>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include <emscripten/emscripten.h>

#include "app.h"
#include "core/json.h"
#include "explain/colormap.h"
#include "gpu.h"
#include "imgui.h"
#include "imgui_internal.h"
#include "io/imagenet_labels.h"
#include "model/predict.h"
#include "strings.h"

using cnnlens::json_quote;

extern "C" void ui_mask_box(double x0, double y0, double x1, double y1);   // main.cpp

namespace {

constexpr float kWideMin = 720;     // logical px: 150% zoom on a 1280-px screen (853) stays wide
constexpr float kEmbedSideBySide = 480;   // an embed this wide shows its view and controls side by side

// The tabs: `id` is what tab=, cnnlens.selectTab() and cnnlens.tab() use. The wide layout shows
// Input and Predictions as its left column and the other three as tabs; the narrow one has all
// five; an embed shows Input and Predictions together as "top5".
struct TabDef {
    const char *id, *label, *short_label;
};
const TabDef kTabs[] = {
    {"input", "Input", "Input"},
    {"top5", "Predictions", "Top-5"},
    {"maps", "Feature maps", "Maps"},
    {"gradcam", "Where it looks", "Grad-CAM"},
    {"tools", "Tools", "Tools"},
    {"model", "Model", "Model"},
};

void model_switch();   // the classroom controls (issue 15), below
void share_row();

std::string g_select_tab;   // a tab id, set by ui_select_tab(): that tab opens on the next frame
int g_select_frames = 0;    // the frames it is still asked for (Dear ImGui opens it in the frame after the first)
std::string g_open_tab;     // the tab drawn last (of the right column in the wide layout)
std::string g_layout;       // "wide", "narrow" or "embed", as drawn last
char g_class_query[2][96];  // the search fields of the two class menus
std::string g_filmstrip_json = "[]";

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, f);
    std::vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return buf;
}

std::string bytes_text(double b) {
    if (b < 0) return T("unknown size");
    if (b >= 1e9) return fmt("%.2f GB", b / 1e9);
    if (b >= 1e6) return fmt("%.1f MB", b / 1e6);
    if (b >= 1e3) return fmt("%.0f KB", b / 1e3);
    return fmt("%.0f B", b);
}

// Dim text that wraps at the window edge.
void dim_wrapped(const char* f, ...) __attribute__((format(printf, 1, 2)));
void dim_wrapped(const char* f, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, f);
    std::vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    ImGui::PushStyleColor(ImGuiCol_Text, ImGui::GetStyleColorVec4(ImGuiCol_TextDisabled));
    ImGui::TextWrapped("%s", buf);
    ImGui::PopStyleColor();
}

void help_marker(const char* text) {
    ImGui::SameLine();
    ImGui::TextDisabled("(?)");
    if (ImGui::IsItemHovered()) {
        ImGui::BeginTooltip();
        ImGui::PushTextWrapPos(ImGui::GetFontSize() * 30.0f);
        ImGui::TextUnformatted(text);
        ImGui::PopTextWrapPos();
        ImGui::EndTooltip();
    }
}

void section(const char* title) {
    ImGui::Spacing();
    ImGui::TextUnformatted(title);
    ImGui::Separator();
}

// An InputText with a hint that Tab can land in (it starts editing, as in a browser).
bool text_field(const char* id, const char* hint, char* buf, size_t size, ImGuiInputTextFlags flags = 0) {
    const bool r = ImGui::InputTextWithHint(id, hint, buf, size, flags);
    app_mark_text_field();
    return r;
}

int top1() { return g_app.top.empty() ? -1 : g_app.top[0].index; }
int shown_class() { return g_app.cls >= 0 ? g_app.cls : top1(); }

const TabDef* tab_def(const std::string& name) {
    for (const TabDef& t : kTabs)
        if (!strcasecmp(name.c_str(), t.id) || !strcasecmp(name.c_str(), t.label) || !strcasecmp(name.c_str(), t.short_label))
            return &t;
    return nullptr;
}

// A tab whose ID is its id (what ui_select_tab takes) and whose label depends on the layout.
bool begin_tab(const char* id, const char* label) {
    ImGuiTabItemFlags f = 0;
    if (g_select_tab == id) f |= ImGuiTabItemFlags_SetSelected;
    std::string full = std::string(T(label)) + "###" + id;
    const bool open = ImGui::BeginTabItem(full.c_str(), nullptr, f);
    app_mark(std::string("tab ") + id);
    if (open) g_open_tab = id;
    return open;
}

bool colormap_combo(const char* label) {
    App& a = g_app;
    bool changed = false;
    if (ImGui::BeginCombo(T(label), cnnlens::colormap_name(cnnlens::kColormaps[a.cmap]))) {
        for (int i = 0; i < (int)std::size(cnnlens::kColormaps); i++)
            if (ImGui::Selectable(cnnlens::colormap_name(cnnlens::kColormaps[i]), i == a.cmap)) a.cmap = i, changed = true;
        ImGui::EndCombo();
    }
    return changed;
}

// A class's name as shown: a model's own class names (Fashion-MNIST's) in the page's language,
// ImageNet's in English.
const char* class_label_ui(int c) {
    static std::string keep;
    keep = class_label(c);
    return g_app.class_names.empty() ? keep.c_str() : T(keep);
}

// "281 tabby cat" for ImageNet, "7 Sneaker" for a model with named classes, "class 2" otherwise.
std::string class_text(int c) {
    if (c < 0) return "-";
    if (g_app.num_classes == cnnlens::kImageNetNumClasses || !g_app.class_names.empty())
        return fmt("%d %s", c, class_label_ui(c));
    return class_label(c);
}

// A class menu over all the model's classes: a search field (name, index or WordNet id, as the
// core's class_search), the top-5 first, then every class. slot: which search field (0, 1).
// cls: -1 = the top-1 (main class) or off (with_off). Returns true when the choice changed.
bool class_picker(const char* label, int slot, int& cls, bool with_off) {
    App& a = g_app;
    bool changed = false;
    const std::string preview = with_off ? (cls < 0 ? std::string(T("off")) : class_text(cls)) : class_text(shown_class());
    const bool open = ImGui::BeginCombo(T(label), preview.c_str(), ImGuiComboFlags_HeightLarge);
    app_mark(label);
    if (!open) return false;
    char* q = g_class_query[slot];
    if (ImGui::IsWindowAppearing()) {
        q[0] = 0;
        ImGui::SetKeyboardFocusHere();
    }
    ImGui::SetNextItemWidth(-1);
    const std::string hint = a.num_classes == cnnlens::kImageNetNumClasses
                                 ? fmt(T("search all %d classes: name, index or WordNet id"), a.num_classes)
                                 : fmt(T("search all %d classes: name or index"), a.num_classes);
    text_field("##search", hint.c_str(), q, sizeof g_class_query[slot]);
    const int current = with_off ? cls : shown_class();
    auto choose = [&](int c) {
        cls = (!with_off && c == top1()) ? -1 : c;
        changed = true;
        ImGui::CloseCurrentPopup();
    };
    if (!q[0]) {
        if (with_off && ImGui::Selectable(T("off"), cls < 0)) cls = -1, changed = true;
        ImGui::PushID("top");
        for (const AppPred& p : a.top)
            if (ImGui::Selectable(fmt("%s (%.1f%%)", class_text(p.index).c_str(), 100 * p.prob).c_str(), p.index == current))
                choose(p.index);
        ImGui::PopID();
        ImGui::Separator();
        ImGuiListClipper clip;
        clip.Begin(a.num_classes);
        while (clip.Step())
            for (int c = clip.DisplayStart; c < clip.DisplayEnd; c++)
                if (ImGui::Selectable(class_text(c).c_str(), c == current)) choose(c);
    } else {
        std::vector<int> hits;
        const int n = cnnlens::class_search(a.class_names, a.num_classes, q, hits, 200);
        for (int c : hits) {
            const char* wnid = a.num_classes == cnnlens::kImageNetNumClasses ? cnnlens::imagenet_classes()[c].wnid : "";
            if (ImGui::Selectable(fmt("%s  %s", class_text(c).c_str(), wnid).c_str(), c == current)) choose(c);
        }
        if (hits.empty()) ImGui::TextDisabled("%s", T("no class matches"));
        else if (n > (int)hits.size()) ImGui::TextDisabled(T("... %d more"), n - (int)hits.size());
    }
    ImGui::EndCombo();
    return changed;
}

int layer_named(const std::string& name) {
    for (size_t i = 0; i < g_app.layers.size(); i++)
        if (g_app.layers[i].name == name) return (int)i;
    return -1;
}

// The model's methods (the core's table): those it cannot run are shown disabled, with the reason.
bool method_combo(const char* label) {
    App& a = g_app;
    const AppMethod* cur = app_method(a.method);
    bool changed = false;
    const bool open = ImGui::BeginCombo(T(label), cur ? T(cur->label) : a.method.c_str());
    app_mark(label);
    if (open) {
        for (const AppMethod& m : a.methods) {
            if (!m.in_menu) continue;
            const bool off = !m.unavailable.empty();
            if (off) ImGui::BeginDisabled();
            if (ImGui::Selectable(T(m.label), m.name == a.method)) {
                a.method = m.name, changed = true;
                if (m.head_input_only) a.cam_layer = layer_named(a.last_conv);   // CAM exists at one layer only
            }
            app_mark("method " + m.name);
            if (off) ImGui::EndDisabled();
            if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
                ImGui::SetTooltip("%s", off ? T(m.unavailable) : T(m.about));
        }
        ImGui::EndCombo();
    }
    return changed;
}

bool layer_combo(const char* label, int& layer, bool conv_only) {
    App& a = g_app;
    bool changed = false;
    const char* preview = layer >= 0 ? a.layers[(size_t)layer].name.c_str() : "-";
    const bool open = ImGui::BeginCombo(T(label), preview, ImGuiComboFlags_HeightLarge);
    app_mark(label);
    if (open) {
        for (size_t i = 0; i < a.layers.size(); i++) {
            const AppLayer& l = a.layers[i];
            if (l.kind == "dense" || l.kind == "gap" || (conv_only && l.kind != "conv")) continue;
            std::string item = fmt("%-14s %3dx%-3d x %d", l.name.c_str(), l.h, l.w, l.c);
            if (ImGui::Selectable(item.c_str(), layer == (int)i)) layer = (int)i, changed = true;
        }
        ImGui::EndCombo();
    }
    return changed;
}

// The next conv (or pool, for the feature maps) layer before (step -1) or after (+1) `layer`.
bool step_layer(int& layer, int step, bool conv_only) {
    const App& a = g_app;
    for (int i = layer + step; i >= 0 && i < (int)a.layers.size(); i += step) {
        const std::string& k = a.layers[(size_t)i].kind;
        if (k == "conv" || (!conv_only && k == "pool")) {
            layer = i;
            return true;
        }
    }
    return false;
}

// ---------------------------------------------------------------------------- model fit

// Whether a gallery image suits the model: a dataset's images suit the models of that dataset;
// photos suit ImageNet models and models that do not say what they know.
bool sample_fits(const AppSample& s) {
    const std::string& d = g_app.dataset;
    return s.dataset.empty() ? (d.empty() || d == "imagenet") : s.dataset == d;
}

// The image is a photo (not the model's input size) and the model was made for a dataset of
// another kind (the built-in model: 10 kinds of clothing): its answer is one of those classes,
// however unlike the photo.
// (Photos suit the models sample_fits() gives them to: ImageNet's, and those that do not say.)
bool photo_on_small_model() {
    const App& a = g_app;
    return a.have_result && !a.dataset.empty() && a.dataset != "imagenet" &&
           (a.image_w != a.input_size || a.image_h != a.input_size);
}

void vgg16_button() {
    App& a = g_app;
    if (a.busy) ImGui::BeginDisabled();
    if (ImGui::Button(T("Load VGG16 (ImageNet, 553 MB)")))
        app_request("{\"op\":\"weightsUrl\",\"url\":" + json_quote(a.vgg16_url) + ",\"label\":\"VGG16 (ImageNet)\"}");
    app_mark("Load VGG16");
    if (a.busy) ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
        ImGui::SetTooltip(T("%s\nDownloaded once, then kept in the browser's cache."), a.vgg16_url.c_str());
}

// What the model knows, where its answers are; a photo on a small model gets a notice.
void model_knows_line() {
    App& a = g_app;
    if (!a.model_ready) return;
    ImGui::TextWrapped(T("This model knows %s. Its best guesses (click one to see where it looks):"), T(a.knows));
    if (!photo_on_small_model()) return;
    // a box as tall as its text: the background is drawn behind the group once its size is known
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->ChannelsSplit(2);
    dl->ChannelsSetCurrent(1);
    ImGui::BeginGroup();
    ImGui::Dummy(ImVec2(0, 2));
    ImGui::Indent(6);
    ImGui::PushTextWrapPos(ImGui::GetWindowContentRegionMax().x - 6);
    ImGui::TextWrapped(T("A photo? This model only knows %s, so its answer is one of them whatever the photo shows%s."),
                       T(a.knows), a.resize == "object" ? T(" (the grey image is what it sees)") : "");
    ImGui::PopTextWrapPos();
    vgg16_button();
    ImGui::Unindent(6);
    ImGui::Dummy(ImVec2(0, 2));
    ImGui::EndGroup();
    dl->ChannelsSetCurrent(0);
    const ImVec2 r0 = ImGui::GetItemRectMin();
    const ImVec2 r1(ImGui::GetWindowPos().x + ImGui::GetWindowContentRegionMax().x, ImGui::GetItemRectMax().y);
    dl->AddRectFilled(r0, r1, IM_COL32(82, 62, 20, 255), 4.0f);
    dl->ChannelsMerge();
    app_mark("photo notice");
}

// ---------------------------------------------------------------------------- input

// The image as the network saw it, or the drop zone.
void panel_input_image(float max_side) {
    App& a = g_app;
    const float avail = ImGui::GetContentRegionAvail().x;
    const float side = std::min(avail, max_side);
    if (a.image_tex) {
        ImGui::Image(gpu_id(a.image_tex), ImVec2(side, side));
        app_mark("input image");
        ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + std::max(side, 160.0f));
        ImGui::TextWrapped("%s  %dx%d -> %dx%d (%s)", a.image_name.c_str(), a.image_w, a.image_h, a.image_side,
                           a.image_side, a.resize.c_str());
        ImGui::PopTextWrapPos();
        if (a.resize == "object") {
            ImGui::TextDisabled("%s", T("what the network sees"));
            help_marker(T("What the network sees: greyscale, the object light on a dark background (a light "
                        "background is inverted), trimmed to the object and centred, like the Fashion-MNIST "
                        "images it learned from."));
        } else {
            ImGui::TextDisabled("%s", T("what the network sees"));
            help_marker(T("The image resized and cropped to the network's input, as its weights expect."));
        }
    } else {
        ImVec2 p = ImGui::GetCursorScreenPos();
        const bool clicked = ImGui::InvisibleButton("##dropzone", ImVec2(side, side * 0.6f));
        app_mark("drop zone");
        ImDrawList* dl = ImGui::GetWindowDrawList();
        dl->AddRect(p, ImVec2(p.x + side, p.y + side * 0.6f), IM_COL32(140, 140, 160, 255), 6.0f, 0, 2.0f);
        const char* t1 = T("Drop an image here");
        const char* t2 = T("(or anywhere on the page)");
        ImVec2 s1 = ImGui::CalcTextSize(t1), s2 = ImGui::CalcTextSize(t2);
        dl->AddText(ImVec2(p.x + (side - s1.x) / 2, p.y + side * 0.3f - s1.y), IM_COL32(220, 220, 230, 255), t1);
        dl->AddText(ImVec2(p.x + (side - s2.x) / 2, p.y + side * 0.3f + 2), IM_COL32(160, 160, 170, 255), t2);
        if (clicked) app_request("{\"op\":\"pickImage\"}");
    }
}

// Where images come from: file picker, clipboard, webcam, URL.
void panel_input_buttons() {
    App& a = g_app;
    const float avail = ImGui::GetContentRegionAvail().x;
    if (ImGui::Button(T("Open image..."))) app_request("{\"op\":\"pickImage\"}");
    ImGui::SameLine();
    if (ImGui::Button(T("Paste"))) app_request("{\"op\":\"paste\"}");
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", T("Paste an image from the clipboard (or press Ctrl+V / Cmd+V)"));
    ImGui::SameLine();
    if (!a.webcam_on) {
        if (ImGui::Button(T("Webcam"))) app_request("{\"op\":\"webcam\",\"on\":true}");
    } else {
        if (ImGui::Button(T("Freeze frame"))) app_request("{\"op\":\"webcam\",\"on\":false}");
    }
    ImGui::SetNextItemWidth(std::max(80.0f, avail - ImGui::CalcTextSize(T("Load##image"), nullptr, true).x - 24));
    bool enter = text_field("##imageurl", T("image URL (https://...)"), a.image_url, sizeof a.image_url,
                            ImGuiInputTextFlags_EnterReturnsTrue);
    app_mark("image URL");
    ImGui::SameLine();
    if ((ImGui::Button(T("Load##image")) || enter) && a.image_url[0])
        app_request("{\"op\":\"imageUrl\",\"url\":" + json_quote(a.image_url) + "}");
    app_mark("load image URL");
}

// The gallery, group by group. Tab reaches the first image of each group; the arrow keys move
// between the images. A group that does not suit the model says so.
void panel_gallery() {
    App& a = g_app;
    const float avail = ImGui::GetContentRegionAvail().x;
    float x = 0;
    for (size_t i = 0; i < a.samples.size(); i++) {
        const AppSample& s = a.samples[i];
        const float t = (float)s.w;
        const bool first = i == 0 || s.group != a.samples[i - 1].group;
        if (first) {
            ImGui::TextDisabled("%s", s.group.empty() ? T("Samples") : T(s.group));
            if (a.model_ready && !sample_fits(s)) {
                ImGui::SameLine();
                ImGui::TextDisabled("%s", s.dataset.empty() ? T("(for ImageNet models such as VGG16)") : T("(for another model)"));
            }
            x = 0;
        }
        ImGui::PushID((int)i);
        if (x > 0 && x + t + 8 > avail) x = 0;
        else if (x > 0) ImGui::SameLine();
        ImGui::PushItemFlag(ImGuiItemFlags_NoTabStop, !first);
        if (ImGui::ImageButton(gpu_id(s.thumb), ImVec2(t, t), ImVec2(0, 0), ImVec2(1, 1), 2))
            app_request("{\"op\":\"sample\",\"url\":" + json_quote(s.url) + ",\"name\":" + json_quote(s.name) + "}");
        ImGui::PopItemFlag();
        app_mark("sample " + s.name);
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", s.name.c_str());
        x += t + 4 + ImGui::GetStyle().ItemSpacing.x;
        ImGui::PopID();
    }
}

// ---------------------------------------------------------------------------- predictions

void panel_predictions(bool with_search = true) {
    App& a = g_app;
    if (!a.model_ready) {
        ImGui::TextDisabled("%s", a.busy ? T("Loading the model...") : T("No model is loaded: choose one in the Model tab."));
        return;
    }
    model_switch();
    model_knows_line();
    if (!a.have_result) {
        ImGui::TextDisabled("%s", a.busy ? T("Computing...") : T("No image yet: drop one, or pick one from the gallery."));
    } else {
        const float w = ImGui::GetContentRegionAvail().x;
        for (size_t i = 0; i < a.top.size(); i++) {
            const AppPred& p = a.top[i];
            ImGui::PushID((int)i);
            bool sel = shown_class() == p.index;
            char label[64];
            std::snprintf(label, sizeof label, "%5.1f%%", 100.0 * p.prob);
            ImGui::ProgressBar(p.prob, ImVec2(std::min(100.0f, w * 0.3f), 0), label);
            ImGui::SameLine();
            if (ImGui::Selectable(fmt("%s  [%d]", class_label_ui(p.index), p.index).c_str(), sel)) {
                a.cls = (i == 0) ? -1 : p.index;
                app_request_view();
            }
            app_mark(fmt("prediction %d", (int)i));
            if (ImGui::IsItemHovered()) ImGui::SetTooltip(T("logit %.4f; click to explain this class"), p.logit);
            ImGui::PopID();
        }
        ImGui::TextDisabled(T("forward %.0f ms"), a.ms_forward);
    }
    if (!with_search) return;
    ImGui::SetNextItemWidth(-1);
    text_field("##search",
               a.num_classes == cnnlens::kImageNetNumClasses ? T("explain another class: name, index or WordNet id")
                                                              : T("explain another class: name or index"),
               a.search, sizeof a.search);
    app_mark("class search");
    if (a.search[0] && a.num_classes > 0) {
        std::vector<int> hits;
        int n = cnnlens::class_search(a.class_names, a.num_classes, a.search, hits, 50);
        ImGui::BeginChild("##hits", ImVec2(0, std::min(8, (int)hits.size() + 1) * ImGui::GetTextLineHeightWithSpacing()),
                          true);
        for (size_t k = 0; k < hits.size(); k++) {
            const int c = hits[k];
            const char* wnid = a.num_classes == cnnlens::kImageNetNumClasses ? cnnlens::imagenet_classes()[c].wnid : "";
            if (ImGui::Selectable(fmt("%4d  %s  %s", c, wnid, class_label(c).c_str()).c_str(), shown_class() == c)) {
                a.cls = c;
                app_request_view();
            }
            app_mark(fmt("search hit %d", (int)k));
        }
        if (hits.empty()) ImGui::TextDisabled("%s", T("no class matches"));
        else if (n > (int)hits.size()) ImGui::TextDisabled(T("... %d more"), n - (int)hits.size());
        ImGui::EndChild();
    }
}

// ---------------------------------------------------------------------------- feature maps

const std::vector<float>* weights_for_layer(int layer) {
    const App& a = g_app;
    if (layer < 0 || a.chan_w.empty() || a.chan_w_layer != a.layers[(size_t)layer].name) return nullptr;
    if ((int)a.chan_w.size() != a.layers[(size_t)layer].c) return nullptr;
    return &a.chan_w;
}

std::vector<int> channel_order() {
    const App& a = g_app;
    std::vector<int> order((size_t)a.act_c);
    for (int i = 0; i < a.act_c; i++) order[(size_t)i] = i;
    const std::vector<float>* hw = a.sort_by_weight ? weights_for_layer(a.act_layer) : nullptr;
    if (hw && (int)hw->size() == a.act_c)
        std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return (*hw)[(size_t)x] > (*hw)[(size_t)y]; });
    return order;
}

void build_atlas() {
    App& a = g_app;
    a.atlas_dirty = false;
    if (a.act.empty()) return;
    const int H = a.act_h, W = a.act_w, C = a.act_c;
    const int cols = std::max(1, (int)std::ceil(std::sqrt((double)C)));
    const int rows = (C + cols - 1) / cols;
    a.atlas_cols = cols;
    cnnlens::Range network;   // over every conv and pool layer of the last forward
    for (size_t i = 0; i < a.lo.size(); i++)
        if (a.layers[i].kind == "conv" || a.layers[i].kind == "pool")
            network.lo = std::min(network.lo, a.lo[i]), network.hi = std::max(network.hi, a.hi[i]);
    const std::vector<cnnlens::Range> ranges =
        cnnlens::channel_ranges(a.act.data(), (size_t)H * W, C, (cnnlens::NormScope)a.norm_scope, network);
    std::vector<uint8_t> atlas((size_t)cols * W * rows * H, 0);
    for (int c = 0; c < C; c++) {
        const int tx = (c % cols) * W, ty = (c / cols) * H;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const float t = cnnlens::scale01(a.act[((size_t)y * W + x) * C + c], ranges[(size_t)c]);
                atlas[(size_t)(ty + y) * cols * W + tx + x] = (uint8_t)(t * 255.0f + 0.5f);
            }
    }
    a.atlas_tex = gpu_texture_r8(a.atlas_tex, cols * W, rows * H, atlas.data(), false);
}

void channel_uv(int c, ImVec2& uv0, ImVec2& uv1) {
    const App& a = g_app;
    const int cols = a.atlas_cols, rows = (a.act_c + cols - 1) / cols;
    uv0 = ImVec2((float)(c % cols) / cols, (float)(c / cols) / rows);
    uv1 = ImVec2(uv0.x + 1.0f / cols, uv0.y + 1.0f / rows);
}

void feature_layer_row() {
    App& a = g_app;
    ImGui::SetNextItemWidth(std::min(280.0f, ImGui::GetContentRegionAvail().x - 100));
    if (layer_combo("Layer", a.layer, false)) {
        a.zoom_channel = -1;
        app_request_view();
    }
    ImGui::SameLine();
    if (ImGui::ArrowButton("##prev", ImGuiDir_Left) && step_layer(a.layer, -1, false)) a.zoom_channel = -1, app_request_view();
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", T("previous layer (key [)"));
    ImGui::SameLine();
    if (ImGui::ArrowButton("##next", ImGuiDir_Right) && step_layer(a.layer, +1, false)) a.zoom_channel = -1, app_request_view();
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", T("next layer (key ])"));
}

void feature_grid() {
    App& a = g_app;
    // the grid, row by row through a clipper (512 channels stay cheap)
    ImGui::BeginChild("##grid", ImVec2(0, 0), false);
    const std::vector<int> order = channel_order();
    const float t = (float)a.tile, gap = 3;
    const int cols = std::max(1, (int)((ImGui::GetContentRegionAvail().x + gap) / (t + gap)));
    const int rows = (a.act_c + cols - 1) / cols;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    struct Mark { ImVec2 p0, p1; bool sel; };
    std::vector<Mark> marks;
    ImGuiListClipper clip;
    clip.Begin(rows, t + gap);
    gpu_map_begin(dl, a.cmap);
    bool first = true;   // Tab reaches the first map shown; the arrow keys move between the maps
    while (clip.Step()) {
        for (int r = clip.DisplayStart; r < clip.DisplayEnd; r++) {
            ImVec2 row0 = ImGui::GetCursorScreenPos();
            for (int k = 0; k < cols; k++) {
                int i = r * cols + k;
                if (i >= a.act_c) break;
                int c = order[(size_t)i];
                ImVec2 p0(row0.x + k * (t + gap), row0.y), p1(p0.x + t, p0.y + t);
                ImGui::SetCursorScreenPos(p0);
                ImGui::PushID(c);
                ImGui::PushItemFlag(ImGuiItemFlags_NoTabStop, !first);
                first = false;
                if (ImGui::InvisibleButton("##ch", ImVec2(t, t))) a.zoom_channel = c;
                ImGui::PopItemFlag();
                app_mark(fmt("channel %d", c));
                bool hov = ImGui::IsItemHovered();
                if (hov) ImGui::SetTooltip(T("channel %d"), c);
                ImGui::PopID();
                ImVec2 uv0, uv1;
                channel_uv(c, uv0, uv1);
                dl->AddImage(gpu_id(a.atlas_tex), p0, p1, uv0, uv1);
                if (hov || c == a.zoom_channel) marks.push_back({p0, p1, c == a.zoom_channel});
            }
            ImGui::SetCursorScreenPos(ImVec2(row0.x, row0.y + t + gap));
        }
    }
    gpu_map_end(dl);
    for (const Mark& m : marks)
        dl->AddRect(ImVec2(m.p0.x - 1, m.p0.y - 1), ImVec2(m.p1.x + 1, m.p1.y + 1),
                    m.sel ? IM_COL32(255, 80, 80, 255) : IM_COL32(255, 255, 255, 200), 0, 0, 2);
    ImGui::EndChild();
}

void panel_feature_maps(bool compact = false) {
    App& a = g_app;
    if (!a.model_ready) {
        ImGui::TextDisabled("%s", a.busy ? T("Loading the model...") : T("No model is loaded."));
        return;
    }
    feature_layer_row();
    if (!compact) {
        ImGui::TextUnformatted(T("Normalise:"));
        ImGui::SameLine();
        bool renorm = ImGui::RadioButton(T("per channel"), &a.norm_scope, 0);
        ImGui::SameLine();
        renorm |= ImGui::RadioButton(T("per layer"), &a.norm_scope, 1);
        ImGui::SameLine();
        renorm |= ImGui::RadioButton(T("whole network"), &a.norm_scope, 2);
        if (renorm) a.atlas_dirty = true;
        ImGui::SetNextItemWidth(140);
        ImGui::SliderInt(T("tile px"), &a.tile, 16, 160);
        ImGui::SameLine();
        ImGui::SetNextItemWidth(110);
        if (colormap_combo("colormap")) app_request_view();
        const std::vector<float>* hw = weights_for_layer(a.act_layer);
        if (!hw) ImGui::BeginDisabled();
        ImGui::Checkbox(T("sort by Grad-CAM weight"), &a.sort_by_weight);
        if (!hw) {
            ImGui::EndDisabled();
            help_marker(T("Conv layers only: channels ordered by their Grad-CAM weight (alpha) for the class shown in "
                        "Where it looks, the channels that build its heatmap first."));
        }
    }
    if (a.act.empty() || a.act_layer != a.layer) {
        ImGui::TextDisabled("%s", a.have_result ? T("Computing...") : T("Drop an image to see its feature maps."));
        return;
    }
    if (a.atlas_dirty) build_atlas();
    const AppLayer& L = a.layers[(size_t)a.act_layer];
    dim_wrapped(T("What each of the %d filters of %s responds to in this image, as %dx%d maps (bright = strong): early "
                "layers respond to edges and textures, deep ones to parts. Click a map to zoom."),
                L.c, L.name.c_str(), L.h, L.w);

    // zoom: the input and the chosen channel side by side
    const std::vector<float>* hw = weights_for_layer(a.act_layer);
    if (a.zoom_channel >= 0) {
        const float s = std::min(240.0f, (ImGui::GetContentRegionAvail().x - 16) / 2);
        if (a.image_tex) ImGui::Image(gpu_id(a.image_tex), ImVec2(s, s));
        ImGui::SameLine();
        ImVec2 uv0, uv1;
        channel_uv(a.zoom_channel, uv0, uv1);
        gpu_map_image(a.atlas_tex, ImVec2(s, s), a.cmap, GPU_MAP, 0, 0, uv0, uv1);
        std::string extra;
        if (hw) extra = fmt(T(", Grad-CAM weight %.4g"), (*hw)[(size_t)a.zoom_channel]);
        ImGui::Text(T("channel %d%s"), a.zoom_channel, extra.c_str());
        ImGui::SameLine();
        if (ImGui::SmallButton(T("close zoom"))) a.zoom_channel = -1;
    }
    feature_grid();
}

// ---------------------------------------------------------------------------- where it looks

void heat_view(const AppHeat& h, float s, const char* caption, const std::string& mark) {
    App& a = g_app;
    ImGui::BeginGroup();
    if (h.tex && a.image_tex) gpu_map_image(h.tex, ImVec2(s, s), a.cmap, GPU_OVERLAY, a.image_tex, a.alpha);
    else ImGui::Dummy(ImVec2(s, s));
    app_mark(mark);
    ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + s);
    ImGui::TextWrapped("%s", caption);
    ImGui::PopTextWrapPos();
    ImGui::EndGroup();
}

// The filmstrip's textures: each map on its own scale (where each layer looks, however weakly),
// or all on one shared scale (how strongly each layer points at the class: deep layers dominate).
void rescale_strip() {
    App& a = g_app;
    a.strip_dirty = false;
    cnnlens::Range all;
    for (const AppHeat& h : a.strip) {
        const cnnlens::Range r = cnnlens::value_range(h.map.data(), h.map.size());
        all.lo = std::min(all.lo, r.lo), all.hi = std::max(all.hi, r.hi);
    }
    a.strip_lo.clear(), a.strip_hi.clear();
    cnnlens::JsonWriter j;
    j.begin_array();
    for (AppHeat& h : a.strip) {
        const cnnlens::Range own = cnnlens::value_range(h.map.data(), h.map.size());
        const cnnlens::Range r = a.strip_shared ? all : own;
        std::vector<uint8_t> u8(h.map.size());
        for (size_t i = 0; i < u8.size(); i++) u8[i] = (uint8_t)(cnnlens::scale01(h.map[i], r) * 255.0f + 0.5f);
        h.tex = gpu_texture_r8(h.tex, h.w, h.h, u8.data(), true);
        a.strip_lo.push_back(r.lo), a.strip_hi.push_back(r.hi);
        j.begin_object().field("layer", h.layer).field("min", (double)own.lo).field("max", (double)own.hi)
            .field("lo", (double)r.lo).field("hi", (double)r.hi).end_object();
    }
    g_filmstrip_json = j.end_array().str();
}

// The filmstrip in a W x H region: the largest tiles that fit it (at least 56 px; below that the
// region scrolls).
void filmstrip(float W, float H) {
    App& a = g_app;
    if (a.strip_dirty) rescale_strip();
    const float y0 = ImGui::GetCursorPosY();
    ImGui::TextUnformatted(T("All conv layers"));
    ImGui::SameLine();
    if (ImGui::Checkbox(T("one shared scale"), &a.strip_shared)) a.strip_dirty = true;
    dim_wrapped("%s", a.strip_shared ? T("One scale for all layers: how strongly each layer points at the class (deep layers "
                                 "usually dominate).")
                               : T("Each map on its own scale: where each layer looks, however weakly."));
    const float line = ImGui::GetTextLineHeightWithSpacing(), gap = 8;
    const int k = (int)a.strip.size();
    H -= ImGui::GetCursorPosY() - y0;   // what the lines above took
    float fs = 56;
    for (float t = 160; t >= 56; t -= 4) {
        const int cols = std::max(1, (int)((W + gap) / (t + gap)));
        const int rows = (k + cols - 1) / cols;
        const float caption = t < 92 ? 2 * line : line;
        if (rows * (t + caption + ImGui::GetStyle().ItemSpacing.y) <= H) {
            fs = t;
            break;
        }
    }
    float x = 0;
    for (int i = 0; i < k; i++) {
        if (i && x + fs <= W) ImGui::SameLine(0, gap);
        else if (i) x = 0;
        heat_view(a.strip[(size_t)i], fs, a.strip[(size_t)i].layer.c_str(), "filmstrip " + a.strip[(size_t)i].layer);
        x += fs + gap;
    }
}

// The controls of Where it looks. compact: the embed's column (one per row, fewer).
bool where_controls(float w, bool compact) {
    App& a = g_app;
    const bool two = !compact && w > 500;
    const float cw = compact ? std::max(80.0f, w - ImGui::CalcTextSize("colormap").x - 16)
                             : two ? std::min(220.0f, w * 0.5f - 110) : std::min(260.0f, w - 110);
    bool changed = false;
    ImGui::SetNextItemWidth(cw);
    changed |= method_combo("method");
    if (two) ImGui::SameLine();
    ImGui::SetNextItemWidth(cw);
    changed |= layer_combo(compact ? "layer" : "layer##cam", a.cam_layer, true);
    ImGui::SetNextItemWidth(cw);
    changed |= class_picker("class", 0, a.cls, false);
    if (!compact) {
        if (two) ImGui::SameLine();
        ImGui::SetNextItemWidth(cw);
        changed |= class_picker("compare with", 1, a.cls2, true);
    }
    ImGui::SetNextItemWidth(cw);
    if (colormap_combo("colormap##cam")) changed = true;
    if (two) ImGui::SameLine();
    ImGui::SetNextItemWidth(cw);
    ImGui::SliderFloat(compact ? T("alpha") : T("overlay alpha"), &a.alpha, 0.0f, 1.0f, "%.2f");
    if (!compact) {
        changed |= ImGui::Checkbox(T("guided backprop"), &a.guided);
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", T("guided Grad-CAM and guided backprop: the input pixels that raise the class score"));
        ImGui::SameLine();
        changed |= ImGui::Checkbox(T("filmstrip of all conv layers"), &a.filmstrip);
    }
    return changed;
}

std::string heat_caption(const AppHeat& h) {
    const AppMethod* m = app_method(h.method);
    return fmt(T("%s of %s at %s"), m ? T(m->label) : h.method.c_str(), class_text(h.cls).c_str(), h.layer.c_str());
}

// Instead of a map: why there is none (yet).
bool no_map() {
    App& a = g_app;
    if (!a.explain_error.empty()) {
        ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.6f, 0.5f, 1));
        ImGui::TextWrapped(T("No map: %s"), a.explain_error.c_str());
        ImGui::PopStyleColor();
        return true;
    }
    if (!a.have_result || a.heats.empty()) {
        ImGui::TextDisabled("%s", a.have_result ? T("Computing...") : T("Drop an image first."));
        return true;
    }
    return false;
}

void panel_where() {
    App& a = g_app;
    if (!a.model_ready) {
        ImGui::TextDisabled("%s", a.busy ? T("Loading the model...") : T("No model is loaded."));
        return;
    }
    const float w = ImGui::GetContentRegionAvail().x;
    if (where_controls(w, false)) app_request_view();
    if (a.have_result)
        dim_wrapped(T("Where the model looks: the parts of the image that raised its score for %s (bright = more)."),
                    class_text(shown_class()).c_str());
    gpu_colorbar(ImVec2(std::min(w, 300.0f), 10), a.cmap);
    ImGui::TextDisabled("%s", T("low")), ImGui::SameLine(std::min(w, 300.0f) - 24), ImGui::TextDisabled("%s", T("high"));
    share_row();
    if (no_map()) return;

    const int n = (a.cls2 >= 0 && a.heats.size() > 1) ? 2 : 1;
    const int views = n + (a.guided && a.guided_side ? 2 : 0);
    static const char* guided_captions[2] = {"guided Grad-CAM", "guided backprop (grey: no effect)"};   // T() when drawn
    const float line = ImGui::GetTextLineHeightWithSpacing();
    const bool strip = a.filmstrip && !a.strip.empty();
    if (strip && w >= 520) {
        // the maps stacked on the left, the filmstrip on the right: all in view without scrolling
        const float H = ImGui::GetContentRegionAvail().y - line;
        const float m = std::max(96.0f, std::min({384.0f, w * 0.4f, (H - views * 2 * line) / views}));
        ImGui::BeginGroup();
        for (int i = 0; i < n; i++) heat_view(a.heats[(size_t)i], m, heat_caption(a.heats[(size_t)i]).c_str(), i ? "heatmap 2" : "heatmap");
        if (a.guided && a.guided_side)
            for (int k = 0; k < 2; k++) {
                ImGui::Image(gpu_id(a.guided_tex[k]), ImVec2(m, m));
                ImGui::TextUnformatted(T(guided_captions[k]));
            }
        ImGui::TextDisabled(T("backward %.0f ms, maps %.0f ms"), a.ms_backward, a.ms_explain);
        ImGui::EndGroup();
        ImGui::SameLine(0, 16);
        ImGui::BeginGroup();
        filmstrip(w - m - 16, H + line);
        ImGui::EndGroup();
        return;
    }
    int per_row = views;   // side by side when each can be >= 200 px
    while (per_row > 1 && (w - 16 * (per_row - 1)) / per_row < 200) per_row--;
    const int rows = (views + per_row - 1) / per_row;   // as tall as fits (at least 200 px)
    const float fit_h = (ImGui::GetContentRegionAvail().y - line) / rows - 2 * line;
    const float s = std::min({384.0f, (w - 16 * (per_row - 1)) / per_row, std::max(200.0f, fit_h)});
    for (int i = 0; i < n; i++) {
        if (i && per_row > 1) ImGui::SameLine();
        heat_view(a.heats[(size_t)i], s, heat_caption(a.heats[(size_t)i]).c_str(), i ? "heatmap 2" : "heatmap");
    }
    if (a.guided && a.guided_side) {
        for (int k = 0; k < 2; k++) {
            if ((n + k) % per_row != 0) ImGui::SameLine();   // continue the row while there is room
            ImGui::BeginGroup();
            ImGui::Image(gpu_id(a.guided_tex[k]), ImVec2(s, s));
            ImGui::TextUnformatted(T(guided_captions[k]));
            ImGui::EndGroup();
        }
    }
    ImGui::TextDisabled(T("backward %.0f ms, maps %.0f ms"), a.ms_backward, a.ms_explain);
    if (strip) {
        ImGui::Spacing();
        filmstrip(w, 1e9f);
    }
}

// ---------------------------------------------------------------------------- tools: is the network cheating?
// The Tools tab: edit the input and watch (the brush), and the core's tools that test an
// explanation (explain/tools.h, listed from the model JSON): occlusion, faithfulness curves, the
// sanity check, the pointing game. Each asks web/app.js to run it ({"op": "tool"}) and shows the
// last result (g_app.tools_tab, filled by ui_on_tool).

// Okabe-Ito: distinguishable colours, also for colour-blind readers.
const ImU32 kPalette[] = {IM_COL32(86, 180, 233, 255), IM_COL32(230, 159, 0, 255), IM_COL32(0, 158, 115, 255),
                          IM_COL32(204, 121, 167, 255), IM_COL32(240, 228, 66, 255), IM_COL32(213, 94, 0, 255),
                          IM_COL32(0, 114, 178, 255)};
const ImU32 kRandomColour = IM_COL32(150, 150, 150, 255);
const ImVec4 kWarn(1.0f, 0.66f, 0.25f, 1.0f);

const AppTool* app_tool(const std::string& name) {
    for (const AppTool& t : g_app.tools)
        if (t.name == name) return &t;
    return nullptr;
}

std::string method_label(const std::string& name) {
    const AppMethod* m = app_method(name);
    return m ? T(m->label) : name;
}

float default_brush() { return std::max(1.0f, std::round(g_app.image_side / 14.0f)); }

// Asks web/app.js to run a tool on the current image with the shown class and Grad-CAM layer.
void run_tool(const std::string& name, const std::string& options_json) {
    App& a = g_app;
    const std::string layer = a.cam_layer >= 0 ? a.layers[(size_t)a.cam_layer].name : a.last_conv;
    app_request("{\"op\":\"tool\",\"tool\":" + json_quote(name) + ",\"options\":{\"cls\":" + std::to_string(a.cls) +
                ",\"layer\":" + json_quote(layer) + (options_json.empty() ? "" : "," + options_json) + "}}");
}

// A Run button, disabled while something is computed or before an image has been run.
bool run_button(const char* label) {
    App& a = g_app;
    const bool off = a.busy || !a.have_result;
    if (off) ImGui::BeginDisabled();
    const bool r = ImGui::Button(T(label));
    app_mark(label);
    if (off) ImGui::EndDisabled();
    return r;
}

// Dim text after the last item on its line if it fits there, else on the next line.
void dim_after(const std::string& text) {
    const float w = ImGui::CalcTextSize(text.c_str()).x + ImGui::GetStyle().ItemSpacing.x;
    const float right = ImGui::GetWindowPos().x + ImGui::GetWindowContentRegionMax().x;
    if (ImGui::GetItemRectMax().x + w <= right) ImGui::SameLine();
    dim_wrapped("%s", text.c_str());
}

// A short line of a legend: solid or dashed.
void swatch(ImU32 col, bool dashed) {
    const ImVec2 p = ImGui::GetCursorScreenPos();
    const float h = ImGui::GetTextLineHeight();
    ImDrawList* dl = ImGui::GetWindowDrawList();
    if (dashed)
        for (float x = 0; x < 22; x += 8) dl->AddLine(ImVec2(p.x + x, p.y + h / 2), ImVec2(p.x + std::min(22.0f, x + 5), p.y + h / 2), col, 2);
    else
        dl->AddLine(ImVec2(p.x, p.y + h / 2), ImVec2(p.x + 22, p.y + h / 2), col, 2);
    ImGui::Dummy(ImVec2(24, h));
}

// The image the network sees, as a surface to draw on (the brush, the object's box or mask):
// side x side logical pixels. `at`: the pointer in units of the image side (0..1).
struct Canvas {
    ImVec2 p0;
    float side = 0;
    bool active = false, activated = false, released = false, hovered = false;
    ImVec2 at;
};
Canvas image_canvas(const char* id, unsigned tex, float side) {
    Canvas c;
    c.p0 = ImGui::GetCursorScreenPos(), c.side = side;
    ImGui::InvisibleButton(id, ImVec2(side, side));
    c.active = ImGui::IsItemActive(), c.activated = ImGui::IsItemActivated(), c.released = ImGui::IsItemDeactivated();
    c.hovered = ImGui::IsItemHovered();
    if (tex) ImGui::GetWindowDrawList()->AddImage(gpu_id(tex), c.p0, ImVec2(c.p0.x + side, c.p0.y + side));
    const ImVec2 m = ImGui::GetIO().MousePos;
    c.at = ImVec2(std::clamp((m.x - c.p0.x) / side, 0.0f, 1.0f), std::clamp((m.y - c.p0.y) / side, 0.0f, 1.0f));
    return c;
}
ImVec2 canvas_point(const Canvas& c, float x, float y) { return ImVec2(c.p0.x + x * c.side, c.p0.y + y * c.side); }

// Adds the pointer to a stroke being drawn (units of the side) when it moved; true if it did.
bool extend_stroke(std::vector<float>& stroke, ImVec2 at, float min_step) {
    const size_t n = stroke.size();
    if (n >= 2 && std::hypot(at.x - stroke[n - 2], at.y - stroke[n - 1]) < min_step) return false;
    stroke.push_back(at.x), stroke.push_back(at.y);
    return true;
}

void brush_outline(const Canvas& c, float radius_px) {
    if (!c.hovered && !c.active) return;
    const ImVec2 m = ImGui::GetIO().MousePos;
    ImGui::GetWindowDrawList()->AddCircle(m, std::max(2.0f, radius_px * c.side / g_app.image_side), IM_COL32(255, 255, 255, 200), 24, 1.5f);
}

// ---- edit the input and watch

void tool_edit() {
    App& a = g_app;
    const bool live = a.input_size > 0 && a.input_size <= 64;   // a forward pass takes a few ms: run while painting
    dim_wrapped(T("Paint over the image and watch the answer and the heatmap change: cover what the heatmap points at, "
                "or paint something in. Erase paints %s. The network runs again when the stroke ends%s."),
                a.preprocess == "mean_std" ? T("black (the background of the images this model learned from)")
                                           : T("the mean colour of its training images (what \"nothing\" is to it)"),
                live ? T(", and while you paint on this small model") : "");
    if (a.brush <= 0 && a.image_side > 0) a.brush = default_brush();   // once the input's size is known
    const float avail = ImGui::GetContentRegionAvail().x;
    ImGui::SetNextItemWidth(std::min(160.0f, avail * 0.4f));
    ImGui::SliderFloat(T("brush"), &a.brush, 0.5f, std::max(2.0f, a.image_side / 4.0f), T("%.1f px"));
    app_mark("brush size");
    ImGui::SameLine();
    if (ImGui::RadioButton(T("erase"), a.brush_erase)) a.brush_erase = true;
    ImGui::SameLine();
    if (ImGui::RadioButton(T("paint"), !a.brush_erase)) a.brush_erase = false;
    ImGui::SameLine();
    ImGui::ColorEdit3("##colour", a.brush_rgb, ImGuiColorEditFlags_NoInputs);
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", T("the colour of the paint brush"));
    const bool none = a.edits == 0;
    if (none) ImGui::BeginDisabled();
    if (ImGui::Button(T("Undo"))) app_request("{\"op\":\"undo\"}");
    app_mark("Undo");
    ImGui::SameLine();
    if (ImGui::Button(T("Reset"))) app_request("{\"op\":\"reset\"}");
    app_mark("Reset");
    if (none) ImGui::EndDisabled();
    ImGui::SameLine();
    ImGui::TextDisabled(none ? T("the image as it came") : T("%d stroke%s"), a.edits, a.edits == 1 ? "" : "s");
    if (!a.image_tex || !a.have_result) {
        ImGui::TextDisabled("%s", a.busy ? T("Computing...") : T("Drop an image first."));
        return;
    }

    const float w = ImGui::GetContentRegionAvail().x;
    const bool two = w >= 2 * 150 + 16;
    const float s = std::min(two ? (w - 16) / 2 : w, 320.0f);
    ImGui::BeginGroup();
    const Canvas c = image_canvas("##brush", a.image_tex, s);
    app_mark("brush canvas");
    // the stroke being painted, drawn until the network's new picture of it arrives
    static std::vector<float> shown;
    static int shown_edits = -1;
    static double shown_at = 0;
    auto stroke_json = [&](const std::vector<float>& xy, bool is_live) {
        cnnlens::JsonWriter j;
        j.begin_object().field("op", "paint").field("live", is_live).key("stroke").begin_object().key("xy").begin_array();
        for (float v : xy) j.value((double)v);
        j.end_array().field("radius", (double)(a.brush / a.image_side)).field("erase", a.brush_erase).key("rgb").begin_array();
        for (float v : a.brush_rgb) j.value((int)std::lround(v * 255));
        j.end_array().end_object().end_object();
        return j.str();
    };
    if (c.activated) a.stroke.clear();
    if (c.active && extend_stroke(a.stroke, c.at, 0.35f / a.image_side) && live) app_request(stroke_json(a.stroke, true));
    if (c.released && !a.stroke.empty()) {
        app_request(stroke_json(a.stroke, false));
        shown = a.stroke, shown_edits = a.edits, shown_at = ImGui::GetTime();
        a.stroke.clear();
    }
    if (!shown.empty() && (a.edits != shown_edits || ImGui::GetTime() - shown_at > 20)) shown.clear();
    const std::vector<float>& preview = c.active ? a.stroke : shown;
    if (!preview.empty() && !(live && !c.active)) {
        ImDrawList* dl = ImGui::GetWindowDrawList();
        const float r = a.brush * s / a.image_side;
        const ImU32 col = a.brush_erase ? IM_COL32(a.blank_rgb[0], a.blank_rgb[1], a.blank_rgb[2], 200)
                                        : ImGui::ColorConvertFloat4ToU32(ImVec4(a.brush_rgb[0], a.brush_rgb[1], a.brush_rgb[2], 0.8f));
        dl->PushClipRect(c.p0, ImVec2(c.p0.x + s, c.p0.y + s), true);
        for (size_t i = 0; i + 1 < preview.size(); i += 2) {
            const ImVec2 p = canvas_point(c, preview[i], preview[i + 1]);
            dl->AddCircleFilled(p, r, col, 16);
            if (i + 3 < preview.size()) dl->AddLine(p, canvas_point(c, preview[i + 2], preview[i + 3]), col, 2 * r);
        }
        dl->PopClipRect();
    }
    brush_outline(c, a.brush);
    ImGui::TextDisabled("%s", T("paint here"));
    ImGui::EndGroup();
    if (two) ImGui::SameLine(0, 16);
    ImGui::BeginGroup();
    if (!a.heats.empty() && a.heats[0].tex) heat_view(a.heats[0], s, heat_caption(a.heats[0]).c_str(), "edit heatmap");
    else ImGui::Dummy(ImVec2(s, s)), ImGui::TextDisabled("%s", a.explain_error.empty() ? T("Computing...") : T("no heatmap"));
    ImGui::EndGroup();
    for (size_t i = 0; i < a.top.size(); i++) {
        const AppPred& p = a.top[i];
        ImGui::ProgressBar(p.prob, ImVec2(std::min(100.0f, w * 0.3f), 0), fmt("%5.1f%%", 100.0 * p.prob).c_str());
        ImGui::SameLine();
        ImGui::TextUnformatted(fmt("%s  [%d]", class_label_ui(p.index), p.index).c_str());
        app_mark(fmt("edit prediction %d", (int)i));
    }
}

// ---- occlusion

// The occlusion map over the image: each position's value at the centre of its patch, bilinear
// between centres (the ends held), normalised from min(0, lowest) to the highest drop.
void build_occlusion_texture() {
    App& a = g_app;
    auto& o = a.tools_tab.occ;
    o.dirty = false;
    const std::vector<float>& m = a.tools_tab.logit_view ? o.logit : o.prob;
    const int S = a.image_side;
    if (m.empty() || S <= 0) return;
    o.lo = std::min(0.0f, *std::min_element(m.begin(), m.end()));
    o.hi = std::max(o.lo + 1e-12f, *std::max_element(m.begin(), m.end()));
    std::vector<uint8_t> u8((size_t)S * S);
    auto coord = [&](int p, int n, int& i0, float& t) {
        const float u = std::clamp((p + 0.5f - o.patch / 2.0f) / o.stride, 0.0f, (float)(n - 1));
        i0 = std::min((int)u, std::max(0, n - 2));
        t = n > 1 ? u - i0 : 0;
    };
    for (int y = 0; y < S; y++) {
        int y0;
        float ty;
        coord(y, o.ny, y0, ty);
        for (int x = 0; x < S; x++) {
            int x0;
            float tx;
            coord(x, o.nx, x0, tx);
            auto at = [&](int yy, int xx) { return m[(size_t)std::min(yy, o.ny - 1) * o.nx + std::min(xx, o.nx - 1)]; };
            const float v = (1 - ty) * ((1 - tx) * at(y0, x0) + tx * at(y0, x0 + 1)) + ty * ((1 - tx) * at(y0 + 1, x0) + tx * at(y0 + 1, x0 + 1));
            u8[(size_t)y * S + x] = (uint8_t)(std::clamp((v - o.lo) / (o.hi - o.lo), 0.0f, 1.0f) * 255.0f + 0.5f);
        }
    }
    o.tex = gpu_texture_r8(o.tex, S, S, u8.data(), true);
}

void tool_occlusion(const AppTool& tool) {
    App& a = g_app;
    AppTools& t = a.tools_tab;
    dim_wrapped(T("%s: %s. The patch is the blank colour; the map is how much the class's probability (or logit) "
                "falls with the patch at each place: the parts the answer depends on."), T(tool.label), T(tool.about));
    const int S = std::max(1, a.input_size);
    ImGui::SetNextItemWidth(100);
    ImGui::InputInt(T("patch"), &t.patch);
    app_mark("occlusion patch");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(100);
    ImGui::InputInt(T("stride"), &t.stride);
    app_mark("occlusion stride");
    t.patch = std::clamp(t.patch, 1, S), t.stride = std::clamp(t.stride, 1, S);
    const int n = (S - t.patch) / t.stride + 1;
    ImGui::SameLine();
    ImGui::TextDisabled(T("%dx%d positions"), n, n);
    if (run_button("Run occlusion")) run_tool("occlusion", fmt("\"patch\":%d,\"stride\":%d", t.patch, t.stride));
    dim_after(fmt(T("for %s (px; default %d and %d for %dx%d inputs)"), class_text(shown_class()).c_str(), a.occ_patch,
                  a.occ_stride, S, S));
    auto& o = t.occ;
    if (o.prob.empty()) {
        ImGui::TextDisabled("%s", t.running == "occlusion" ? T("Computing...") : T("Run it to see where the answer comes from."));
        return;
    }
    if (ImGui::RadioButton(T("probability drop"), !t.logit_view)) t.logit_view = false, o.dirty = true;
    ImGui::SameLine();
    if (ImGui::RadioButton(T("logit drop"), t.logit_view)) t.logit_view = true, o.dirty = true;
    if (o.dirty) build_occlusion_texture();
    const float w = ImGui::GetContentRegionAvail().x;
    const float s = std::min({w, 384.0f, std::max(200.0f, ImGui::GetContentRegionAvail().y - 4 * ImGui::GetTextLineHeightWithSpacing())});
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    gpu_map_image(o.tex, ImVec2(s, s), a.cmap, GPU_OVERLAY, a.image_tex, a.alpha);
    app_mark("occlusion map");
    const std::vector<float>& m = t.logit_view ? o.logit : o.prob;
    if (ImGui::IsItemHovered()) {   // the position whose patch centre is nearest the pointer
        const ImVec2 mp = ImGui::GetIO().MousePos;
        const float px = (mp.x - p0.x) / s * S, py = (mp.y - p0.y) / s * S;
        const int ix = std::clamp((int)std::lround((px - o.patch / 2.0f) / o.stride), 0, o.nx - 1);
        const int iy = std::clamp((int)std::lround((py - o.patch / 2.0f) / o.stride), 0, o.ny - 1);
        ImGui::SetTooltip(T("patch at x %d, y %d: %s falls by %.4f"), ix * o.stride, iy * o.stride,
                          t.logit_view ? T("the logit") : T("the probability"), m[(size_t)iy * o.nx + ix]);
    }
    const float bw = std::min(s, 300.0f);
    gpu_colorbar(ImVec2(bw, 8), a.cmap);
    ImGui::TextDisabled("%.3f", o.lo > -5e-4f ? 0.0 : (double)o.lo);   // not "-0.000"
    ImGui::SameLine(bw - ImGui::CalcTextSize(fmt("%.3f", o.hi).c_str()).x);
    ImGui::TextDisabled("%.3f", o.hi);
    const size_t best = (size_t)(std::max_element(m.begin(), m.end()) - m.begin());
    ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + std::max(s, 280.0f));
    ImGui::TextWrapped(T("%s: the largest drop is %.3f, with the patch at x %d, y %d. %dx%d positions of a %d px patch, "
                       "stride %d, in %.0f ms."),
                       class_text(o.cls).c_str(), m[best], (int)(best % (size_t)o.nx) * o.stride,
                       (int)(best / (size_t)o.nx) * o.stride, o.ny, o.nx, o.patch, o.stride, o.ms);
    ImGui::PopTextWrapPos();
}

// ---- faithfulness

// Deletion (solid) and insertion (dashed) curves: the class probability against the fraction of
// pixels deleted or inserted, in one W x H plot.
void faith_plot(float W, float H) {
    App& a = g_app;
    const AppTools& t = a.tools_tab;
    const ImVec2 p0 = ImGui::GetCursorScreenPos();
    ImGui::Dummy(ImVec2(W, H));
    app_mark("faithfulness plot");
    ImDrawList* dl = ImGui::GetWindowDrawList();
    const float lh = ImGui::GetTextLineHeight();
    // the y axis' title above the plot, the x axis' ticks and title below it
    const float x0 = p0.x + ImGui::CalcTextSize("1.0").x + 8, x1 = p0.x + W - 8, y0 = p0.y + lh + 6, y1 = p0.y + H - 2 * lh - 8;
    dl->AddRectFilled(ImVec2(x0, y0), ImVec2(x1, y1), IM_COL32(24, 26, 32, 255));
    const ImU32 grid = IM_COL32(70, 72, 80, 255), text = IM_COL32(160, 160, 170, 255);
    for (int k = 0; k <= 4; k++) {
        const float gx = x0 + (x1 - x0) * k / 4, gy = y1 - (y1 - y0) * k / 4;
        dl->AddLine(ImVec2(gx, y0), ImVec2(gx, y1), grid);
        dl->AddLine(ImVec2(x0, gy), ImVec2(x1, gy), grid);
        if (k % 2 == 0) {
            const std::string v = fmt("%.1f", k / 4.0);
            dl->AddText(ImVec2(x0 - ImGui::CalcTextSize(v.c_str()).x - 4, gy - lh / 2), text, v.c_str());
            dl->AddText(ImVec2(std::min(gx - ImGui::CalcTextSize(v.c_str()).x / 2, x1 - ImGui::CalcTextSize(v.c_str()).x), y1 + 2), text, v.c_str());
        }
    }
    const char* xl = (x1 - x0) > ImGui::CalcTextSize(T("fraction of the pixels deleted (solid) or inserted (dashed)")).x
                         ? T("fraction of the pixels deleted (solid) or inserted (dashed)")
                         : T("pixels deleted (solid), inserted (dashed)");
    const float xw = ImGui::CalcTextSize(xl).x;
    dl->AddText(ImVec2(x0 + std::max(0.0f, (x1 - x0 - xw) / 2), y1 + lh + 4), text, xl);
    dl->AddText(ImVec2(p0.x, p0.y), text, T("probability of the class"));
    auto pt = [&](float f, float p) { return ImVec2(x0 + f * (x1 - x0), y1 - std::clamp(p, 0.0f, 1.0f) * (y1 - y0)); };
    auto curve = [&](const std::vector<float>& f, const std::vector<float>& p, ImU32 col, bool dashed) {
        dl->PushClipRect(ImVec2(x0, y0 - 2), ImVec2(x1 + 2, y1 + 2), true);
        float phase = 0;
        for (size_t i = 0; i + 1 < f.size() && i + 1 < p.size(); i++) {
            const ImVec2 a0 = pt(f[i], p[i]), a1 = pt(f[i + 1], p[i + 1]);
            if (!dashed) {
                dl->AddLine(a0, a1, col, 2);
                continue;
            }
            const float len = std::hypot(a1.x - a0.x, a1.y - a0.y);
            for (float d = 0; d < len;) {   // 6 px on, 4 px off, continuing across segments
                const float cycle = std::fmod(phase + d, 10.0f), run = cycle < 6 ? 6 - cycle : 10 - cycle;
                const float e = std::min(len, d + run);
                if (cycle < 6) dl->AddLine(ImVec2(a0.x + (a1.x - a0.x) * d / len, a0.y + (a1.y - a0.y) * d / len),
                                           ImVec2(a0.x + (a1.x - a0.x) * e / len, a0.y + (a1.y - a0.y) * e / len), col, 2);
                d = e;
            }
            phase = std::fmod(phase + len, 10.0f);
        }
        dl->PopClipRect();
    };
    if (!t.random.fraction.empty()) {
        curve(t.random.fraction, t.random.deletion, kRandomColour, false);
        curve(t.random.fraction, t.random.insertion, kRandomColour, true);
    }
    for (size_t k = 0; k < t.curves.size(); k++) {
        const ImU32 col = kPalette[k % std::size(kPalette)];
        curve(t.curves[k].fraction, t.curves[k].deletion, col, false);
        curve(t.curves[k].fraction, t.curves[k].insertion, col, true);
    }
}

void tool_faithfulness(const AppTool& tool) {
    App& a = g_app;
    AppTools& t = a.tools_tab;
    dim_wrapped(T("%s: %s. Deletion: the pixels the map ranks first are blanked in %d steps; a faithful map makes the "
                "class fall fast (low area). Insertion: they are put back into a blank image; the class should "
                "rise fast (high area). The grey curves rank the pixels at random."), T(tool.label), T(tool.about), t.steps);
    ImGui::TextUnformatted(T("Rank the pixels by:"));
    const float avail = ImGui::GetContentRegionAvail().x;
    float x = 0;
    for (const AppMethod& m : a.methods) {
        const std::string label = std::string(T(m.label)) + (m.costly ? T(" (slow)") : "");
        const float wlab = ImGui::GetFrameHeight() + ImGui::GetStyle().ItemInnerSpacing.x + ImGui::CalcTextSize(label.c_str()).x;
        if (x > 0 && x + wlab < avail) ImGui::SameLine();
        else x = 0;
        x += wlab + ImGui::GetStyle().ItemSpacing.x;
        bool on = std::find(t.ticked.begin(), t.ticked.end(), m.name) != t.ticked.end();
        const bool off = !m.unavailable.empty();
        if (off) ImGui::BeginDisabled();
        if (ImGui::Checkbox(label.c_str(), &on)) {
            if (on) t.ticked.push_back(m.name);
            else t.ticked.erase(std::find(t.ticked.begin(), t.ticked.end(), m.name));
        }
        app_mark("rank by " + m.name);
        if (off) ImGui::EndDisabled();
        if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled)) ImGui::SetTooltip("%s", off ? T(m.unavailable) : T(m.about));
    }
    ImGui::SetNextItemWidth(100);
    ImGui::InputInt(T("steps"), &t.steps);
    t.steps = std::clamp(t.steps, 1, std::max(1, a.image_side * a.image_side));
    ImGui::SameLine();
    std::string list;
    for (const std::string& m : t.ticked) list += (list.empty() ? "\"" : ",\"") + m + "\"";
    if (t.ticked.empty()) ImGui::BeginDisabled();
    if (run_button("Run faithfulness")) run_tool("faithfulness", fmt("\"steps\":%d,\"methods\":[%s]", t.steps, list.c_str()));
    if (t.ticked.empty()) ImGui::EndDisabled();
    dim_after(fmt(T("for %s at %s"), class_text(shown_class()).c_str(),
                  a.cam_layer >= 0 ? a.layers[(size_t)a.cam_layer].name.c_str() : ""));
    if (t.curves.empty()) {
        ImGui::TextDisabled("%s", t.running == "faithfulness" ? T("Computing...") : T("Tick methods and run it."));
        return;
    }
    const float w = ImGui::GetContentRegionAvail().x;
    const float legend = (t.curves.size() + 2) * ImGui::GetTextLineHeightWithSpacing();
    const float h = std::clamp(std::min(w * 0.66f, ImGui::GetContentRegionAvail().y - legend - 8), 180.0f, 360.0f);
    faith_plot(std::min(w, 560.0f), h);
    // the legend, with the areas under the curves
    dim_wrapped("%s", T("Areas under the curves: deletion (lower is better), insertion (higher is better)."));
    const bool one_line = ImGui::CalcTextSize("xxxxxxxxxxxxxxxxxxxxxx deletion 0.000  insertion 0.000").x + 60 <= w;
    auto row = [&](const AppTools::Curve& c, ImU32 col, const std::string& name) {
        swatch(col, false);
        ImGui::SameLine(0, 2);
        swatch(col, true);
        ImGui::SameLine();
        if (one_line) ImGui::Text(T("%-22s deletion %.3f  insertion %.3f"), name.c_str(), c.deletion_auc, c.insertion_auc);
        else ImGui::Text(T("%s\ndeletion %.3f  insertion %.3f"), name.c_str(), c.deletion_auc, c.insertion_auc);
    };
    ImGui::BeginGroup();
    for (size_t k = 0; k < t.curves.size(); k++) {
        const AppTools::Curve& c = t.curves[k];
        row(c, kPalette[k % std::size(kPalette)], method_label(c.method) + (c.layer.empty() ? "" : " @" + c.layer));
        app_mark("faithfulness legend " + c.method);
    }
    if (!t.random.fraction.empty()) row(t.random, kRandomColour, T("random ranking"));
    ImGui::EndGroup();
    ImGui::TextDisabled(T("%s, %d steps, %.0f ms"), class_text(t.faith_cls).c_str(), t.steps, t.faith_ms);
}

// ---- sanity check

void tool_sanity(const AppTool& tool) {
    App& a = g_app;
    AppTools& t = a.tools_tab;
    dim_wrapped(T("%s: %s. Each row is a method, each column one more layer re-initialised from the output down; under "
                "each map, its rank correlation with the trained network's (Spearman). It should fall once the layers "
                "above the map's layer are random."), T(tool.label), T(tool.about));
    ImGui::SetNextItemWidth(std::min(240.0f, ImGui::GetContentRegionAvail().x - 60));
    if (layer_combo("layer##sanity", a.cam_layer, true)) app_request_view();
    ImGui::SameLine();
    ImGui::SetNextItemWidth(100);
    ImGui::InputInt(T("seed"), &t.seed);
    if (run_button("Run sanity check")) run_tool("sanity", fmt("\"seed\":%d", t.seed));
    dim_after(fmt(T("for %s"), class_text(shown_class()).c_str()));
    if (t.sanity.empty()) {
        ImGui::TextDisabled("%s", t.running == "sanity" ? T("Computing...") : T("Run it to randomise the network step by step."));
        return;
    }
    // the cells by method (rows) and step (columns)
    std::vector<std::string> methods;
    int steps = 0;
    for (const AppTools::SanityCell& c : t.sanity) {
        if (std::find(methods.begin(), methods.end(), c.method) == methods.end()) methods.push_back(c.method);
        steps = std::max(steps, c.step + 1);
    }
    const float w = ImGui::GetContentRegionAvail().x, gap = 4;
    const bool beside = w >= 560;   // the method's name left of its row; else above it
    const float label_w = beside ? 150 : 0;
    // tiles as wide as the row allows (wide enough for the correlation under them; the panel scrolls)
    const float tile = std::clamp((w - label_w - gap * steps) / steps, ImGui::CalcTextSize("-0.00").x + 4, 72.0f);
    std::string legend = T("Randomised down to:");
    for (int s = 1; s < steps; s++)
        for (const AppTools::SanityCell& c : t.sanity)
            if (c.step == s) {
                legend += fmt(" %d %s%s", s, c.randomised_to.c_str(), s + 1 < steps ? "," : ".");
                break;
            }
    dim_wrapped("%s", legend.c_str());
    if (t.survivors.empty()) dim_wrapped(T("No method survives randomising the layers above %s."), t.sanity_layer.c_str());
    else {
        std::string names;
        for (const std::string& m : t.survivors) names += (names.empty() ? "" : ", ") + method_label(m);
        ImGui::PushStyleColor(ImGuiCol_Text, kWarn);
        const bool one = t.survivors.size() == 1;
        ImGui::TextWrapped(T("Survives randomisation: %s. %s alike when every layer above %s is random, so %s not show "
                           "what those layers learned (Adebayo et al. 2018)."), names.c_str(),
                           one ? T("Its map stays") : T("Their maps stay"), t.sanity_layer.c_str(), one ? T("it does") : T("they do"));
        ImGui::PopStyleColor();
    }
    ImGui::BeginGroup();
    const float x0 = ImGui::GetCursorPosX() + label_w;   // the first column
    for (int s = 0; s < steps; s++) {   // the column heads: the step
        const std::string head = s ? fmt("%d", s) : tile >= 52 ? T("trained") : "0";
        const float cx = x0 + s * (tile + gap) + std::max(0.0f, (tile - ImGui::CalcTextSize(head.c_str()).x) / 2);
        if (s) ImGui::SameLine(cx);
        else ImGui::SetCursorPosX(cx);
        ImGui::TextDisabled("%s", head.c_str());
    }
    for (const std::string& m : methods) {
        const bool survives = std::find(t.survivors.begin(), t.survivors.end(), m) != t.survivors.end();
        const std::string label = method_label(m) + (survives ? (beside ? T("\n(survives randomisation)") : T(": survives randomisation")) : "");
        if (survives) ImGui::PushStyleColor(ImGuiCol_Text, kWarn);
        ImGui::PushTextWrapPos(beside ? ImGui::GetCursorPosX() + label_w - 10 : 0.0f);
        ImGui::TextWrapped("%s", label.c_str());
        ImGui::PopTextWrapPos();
        if (survives) ImGui::PopStyleColor();
        for (int s = 0; s < steps; s++) {
            const AppTools::SanityCell* cell = nullptr;
            for (const AppTools::SanityCell& c : t.sanity)
                if (c.method == m && c.step == s) cell = &c;
            if (s || beside) ImGui::SameLine(x0 + s * (tile + gap));
            ImGui::BeginGroup();
            if (cell) {
                gpu_map_image(cell->tex, ImVec2(tile, tile), a.cmap);
                app_mark(fmt("sanity %s %d", m.c_str(), s));
                if (ImGui::IsItemHovered())
                    ImGui::SetTooltip(T("%s, %s: Spearman %.3f with the trained network's map"), method_label(m).c_str(),
                                      s ? (T("randomised down to ") + cell->randomised_to).c_str() : T("trained network"), cell->spearman);
                const std::string v = fmt("%.2f", cell->spearman);
                const float tw = ImGui::CalcTextSize(v.c_str()).x;
                ImGui::SetCursorPosX(ImGui::GetCursorPosX() + std::max(0.0f, (tile - tw) / 2));
                if (s && cell->spearman > 0.5) ImGui::TextColored(kWarn, "%s", v.c_str());
                else ImGui::TextDisabled("%s", v.c_str());
            } else {
                ImGui::Dummy(ImVec2(tile, tile));
            }
            ImGui::EndGroup();
        }
    }
    ImGui::EndGroup();
    app_mark("sanity filmstrip");
    ImGui::TextDisabled(T("%s, seed %d, %.0f ms"), class_text(t.sanity_cls).c_str(), t.seed, t.sanity_ms);
}

// ---- pointing game

// The mask view: the image where the object is, darkened and tinted elsewhere.
void build_mask_texture() {
    App& a = g_app;
    AppTools& t = a.tools_tab;
    t.mask_dirty = false;
    const int S = a.image_side;
    if (S <= 0 || a.image_rgb.size() != (size_t)S * S * 3) return;
    const std::vector<uint8_t>* m = t.mask_side == S && !t.mask.empty() ? &t.mask
                                    : t.default_mask.size() == (size_t)S * S ? &t.default_mask : nullptr;
    std::vector<uint8_t> rgb = a.image_rgb;
    if (m)
        for (size_t p = 0; p < (size_t)S * S; p++)
            if (!(*m)[p]) rgb[p * 3] = (uint8_t)(rgb[p * 3] * 0.3f), rgb[p * 3 + 1] = (uint8_t)(rgb[p * 3 + 1] * 0.3f),
                          rgb[p * 3 + 2] = (uint8_t)(rgb[p * 3 + 2] * 0.3f + 70);
    t.mask_tex = gpu_texture_rgb(t.mask_tex, S, S, rgb.data());
}

void tool_pointing(const AppTool& tool) {
    App& a = g_app;
    AppTools& t = a.tools_tab;
    dim_wrapped(T("%s: %s. For every method at once, the share of its map's positive heat (input gradients: their "
                "magnitude) on the object, and whether its hottest point is on it. Mark the object with a box (drag) "
                "or paint it.%s"), T(tool.label), T(tool.about),
                a.preprocess == "mean_std" ? T(" Unmarked, the object is the garment (its non-black pixels).") : "");
    ImGui::RadioButton(T("box"), &t.mask_mode, 0);
    ImGui::SameLine();
    ImGui::RadioButton(T("paint"), &t.mask_mode, 1);
    ImGui::SameLine();
    ImGui::RadioButton(T("rub out"), &t.mask_mode, 2);
    if (t.mask_mode) {
        ImGui::SameLine();
        if (a.brush <= 0 && a.image_side > 0) a.brush = default_brush();   // once the input's size is known
        ImGui::SetNextItemWidth(120);
        ImGui::SliderFloat(T("brush##mask"), &a.brush, 0.5f, std::max(2.0f, a.image_side / 4.0f), T("%.1f px"));
    }
    ImGui::SameLine();
    const bool marked = !t.mask.empty();
    if (!marked) ImGui::BeginDisabled();
    if (ImGui::Button(T("Clear"))) {
        t.mask.clear(), t.mask_side = 0;
        app_send_mask();
    }
    app_mark("clear mask");
    if (!marked) ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
        ImGui::SetTooltip("%s", T("forget the marked object (the model's default, if it has one)"));
    if (!a.image_tex || !a.have_result) {
        ImGui::TextDisabled("%s", T("Drop an image first."));
        return;
    }
    const int S = a.image_side;
    if (t.mask_dirty) build_mask_texture();
    const float w = ImGui::GetContentRegionAvail().x;
    const float s = std::min({w, 240.0f, w >= 560 ? w * 0.4f : w});
    ImGui::BeginGroup();
    const Canvas c = image_canvas("##object", t.mask_tex ? t.mask_tex : a.image_tex, s);
    app_mark("object canvas");
    static ImVec2 box0;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    if (t.mask_mode == 0) {
        if (c.activated) box0 = c.at;
        if (c.active) dl->AddRect(canvas_point(c, std::min(box0.x, c.at.x), std::min(box0.y, c.at.y)),
                                  canvas_point(c, std::max(box0.x, c.at.x), std::max(box0.y, c.at.y)), IM_COL32(255, 210, 60, 255), 0, 0, 2);
        if (c.released && std::fabs(c.at.x - box0.x) * S >= 1 && std::fabs(c.at.y - box0.y) * S >= 1)
            ui_mask_box(box0.x * S, box0.y * S, c.at.x * S, c.at.y * S);
    } else {
        if (c.activated) {   // start from what is shown: the marked object, else the default one
            if (t.mask.size() != (size_t)S * S) {
                t.mask = t.default_mask.size() == (size_t)S * S ? t.default_mask : std::vector<uint8_t>((size_t)S * S, 0);
                t.mask_side = S;
            }
            a.stroke.clear();
        }
        if (c.active && extend_stroke(a.stroke, c.at, 0.35f / S)) {   // the core's brush, on the mask
            cnnlens::Image m;
            m.width = m.height = S;
            m.rgb.resize((size_t)S * S * 3);
            for (size_t p = 0; p < t.mask.size(); p++) m.rgb[p * 3] = t.mask[p];
            std::vector<float> xy;
            for (size_t i = a.stroke.size() >= 4 ? a.stroke.size() - 4 : 0; i < a.stroke.size(); i++) xy.push_back(a.stroke[i] * S);
            const uint8_t v[3] = {(uint8_t)(t.mask_mode == 1), 0, 0};
            cnnlens::image_paint(m, xy, a.brush, v);
            for (size_t p = 0; p < t.mask.size(); p++) t.mask[p] = m.rgb[p * 3];
            t.mask_dirty = true;
        }
        if (c.released) a.stroke.clear(), app_send_mask();
        brush_outline(c, a.brush);
    }
    ImGui::TextDisabled("%s", marked ? T("the object you marked") : !t.default_mask.empty() ? T("the default object") : T("mark the object"));
    ImGui::EndGroup();
    if (w >= 560) ImGui::SameLine(0, 16);
    ImGui::BeginGroup();
    if (run_button("Run pointing game")) run_tool("pointing", "");
    dim_after(fmt(T("for %s at %s"), class_text(shown_class()).c_str(),
                  a.cam_layer >= 0 ? a.layers[(size_t)a.cam_layer].name.c_str() : ""));
    if (t.pointing.empty()) {
        ImGui::TextDisabled("%s", t.running == "pointing" ? T("Computing...") : T("Run it to score every method."));
    } else if (ImGui::BeginTable("##pointing", 3, ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH | ImGuiTableFlags_SizingFixedFit)) {
        ImGui::TableSetupColumn(T("method"));
        ImGui::TableSetupColumn(T("heat on object"));
        ImGui::TableSetupColumn(T("peak on it"));
        ImGui::TableHeadersRow();
        for (const AppTools::PointRow& r : t.pointing) {
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            ImGui::TextUnformatted(r.label.c_str());
            if (ImGui::IsItemHovered()) ImGui::SetTooltip(T("%s at %s"), r.label.c_str(), r.layer.c_str());
            ImGui::TableNextColumn();
            if (r.energy < 0) ImGui::TextDisabled("%s", T("no heat"));
            else ImGui::Text("%5.1f%%", 100 * r.energy);
            ImGui::TableNextColumn();
            if (r.max_inside) ImGui::TextUnformatted(T("yes"));
            else ImGui::TextColored(kWarn, "%s", T("no"));
        }
        ImGui::EndTable();
        app_mark("pointing table");
        ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + std::max(200.0f, ImGui::GetContentRegionAvail().x));
        dim_wrapped(T("The object is %.0f%% of the image: a map blind to it would put about that share of its heat there. "
                    "%s, %s object."), 100 * t.object_share, class_text(t.pointing_cls).c_str(),
                    t.pointing_user_mask ? T("the marked") : T("the default"));
        ImGui::PopTextWrapPos();
    }
    ImGui::EndGroup();
}

// The Tools tab: a row of sections (the brush, then the core's tools), the open one below.
// ---------------------------------------------------------------------------- classroom (issue 15)
// The model switch, the marker stamp, the two built-in models side by side, and share / embed /
// save figure. web/app.js does the work (setModel, stampMarker, runCompare, link, embedSnippet,
// saveFigure over the core's stamp_marker and explanation_figure); these are their controls.

// ---- UI text of the classroom features, in one place (plain English)
namespace ctext {
const char* const kModel = "model";
const char* const kOtherModel = "(another model)";
const char* const kModelHelp =
    "Switch between the two built-in models: the honest one, and a cheater that learned a shortcut (a small bright "
    "square on the border whose place gives the class), or a model loaded this visit.";
const char* const kSection = "Two models";
const char* const kSectionShort = "Models";
const char* const kStampIntro =
    "The cheater learned a shortcut: a small bright square on the border, at a place that stands for a class. Stamp "
    "one on the image and watch which model follows it.";
const char* const kStamp = "stamp the marker of";
const char* const kStampNone = "none (no marker)";
const char* const kStampUnknown = "The markers are in the cheater's file: they are read when it is first needed.";
const char* const kCompare = "Side by side: both built-in models on this image";
const char* const kCompareIntro =
    "The same image (with its strokes and marker) through both built-in models: each one's top-5, and where it looks "
    "for its top answer (image, heatmap, overlay).";
const char* const kComputing = "Computing...";
const char* const kCopyLink = "Copy link";
const char* const kCopyLinkTip = "A link that opens this view: model, image, tab, layer, class, method, marker";
const char* const kEmbed = "Copy embed code";
const char* const kEmbedTip = "An <iframe> of this view for a web page (the compact embed layout)";
const char* const kSaveFigure = "Save figure";
const char* const kSaveFigureTip =
    "A PNG of this explanation: image, heatmap and overlay, with the class, method and layer under it";
const char* const kMapCaption = "%s of %s at %s";   // method, class, layer
}  // namespace ctext

// The model switch: the built-in models and those loaded this visit.
void model_switch() {
    const AppClassroom& c = g_app.classroom;
    if (c.models.empty()) return;
    const char* shown = T(ctext::kOtherModel);
    for (const AppClassroom::Model& m : c.models)
        if (m.key == c.current) shown = T(m.label);
    const ImGuiStyle& st = ImGui::GetStyle();   // the label and the (?) after it stay on the row
    ImGui::SetNextItemWidth(std::max(120.0f, std::min(240.0f, ImGui::GetContentRegionAvail().x - ImGui::CalcTextSize(T(ctext::kModel)).x -
                                                                  ImGui::CalcTextSize("(?)").x - 3 * st.ItemSpacing.x - 4)));
    const bool open = ImGui::BeginCombo(T(ctext::kModel), shown);
    app_mark("model switch");
    if (open) {
        for (const AppClassroom::Model& m : c.models) {
            if (ImGui::Selectable(T(m.label), m.key == c.current) && m.key != c.current)
                app_request("{\"op\":\"setModel\",\"key\":" + json_quote(m.key) + "}");
            app_mark("model " + m.key);
        }
        ImGui::EndCombo();
    }
    help_marker(T(ctext::kModelHelp));
}

// Copy link, Copy embed code, Save figure.
void share_row() {
    if (ImGui::SmallButton(T(ctext::kCopyLink))) app_request("{\"op\":\"copyLink\"}");
    app_mark("Copy link");
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", T(ctext::kCopyLinkTip));
    ImGui::SameLine();
    if (ImGui::SmallButton(T(ctext::kEmbed))) app_request("{\"op\":\"copyEmbed\"}");
    app_mark("Copy embed code");
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", T(ctext::kEmbedTip));
    ImGui::SameLine();
    const bool off = !g_app.have_result || g_app.heats.empty();
    if (off) ImGui::BeginDisabled();
    if (ImGui::SmallButton(T(ctext::kSaveFigure))) app_request("{\"op\":\"saveFigure\"}");
    if (off) ImGui::EndDisabled();
    app_mark("Save figure");
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled)) ImGui::SetTooltip("%s", T(ctext::kSaveFigureTip));
}

// The Tools tab's "Two models": the stamp, side by side and its rows.
void tool_compare() {
    App& a = g_app;
    AppClassroom& c = a.classroom;
    dim_wrapped("%s", T(ctext::kStampIntro));
    const std::string none = T(ctext::kStampNone);
    const std::string shown = c.stamped >= 0 ? class_text(c.stamped) : none;
    ImGui::SetNextItemWidth(std::min(240.0f, ImGui::GetContentRegionAvail().x * 0.5f));
    const bool open = ImGui::BeginCombo(T(ctext::kStamp), shown.c_str());
    app_mark("stamp");
    if (open) {
        if (ImGui::Selectable(none.c_str(), c.stamped < 0)) app_request("{\"op\":\"stamp\",\"cls\":-1}");
        app_mark("stamp none");
        // the classes of the markers: the cheater's ten (its metadata), else this model's, asked for on the first stamp
        const int n = c.marker_classes > 0 ? c.marker_classes : a.num_classes;
        for (int k = 0; k < n; k++) {
            if (ImGui::Selectable(class_text(k).c_str(), c.stamped == k)) app_request(fmt("{\"op\":\"stamp\",\"cls\":%d}", k));
            app_mark(fmt("stamp %d", k));
        }
        ImGui::EndCombo();
    }
    if (c.marker_classes == 0) help_marker(T(ctext::kStampUnknown));
    bool on = c.compare;
    if (ImGui::Checkbox(T(ctext::kCompare), &on)) app_request(fmt("{\"op\":\"compare\",\"on\":%s}", on ? "true" : "false"));
    app_mark("side by side");
    if (!c.compare) return;
    dim_wrapped("%s", T(ctext::kCompareIntro));
    if (c.rows.empty()) {
        ImGui::TextDisabled("%s", T(ctext::kComputing));
        return;
    }
    const float w = ImGui::GetContentRegionAvail().x;
    const bool beside = w >= 720;   // the two rows next to each other on a wide screen
    const float fw = beside ? (w - 16) / 2 : w;
    for (size_t i = 0; i < c.rows.size(); i++) {
        const AppClassroom::Row& r = c.rows[i];
        if (i && beside) ImGui::SameLine(0, 16);
        ImGui::BeginGroup();
        ImGui::TextUnformatted(T(r.label));
        const float fig_w = std::min(fw, (float)r.w), fig_h = r.w > 0 ? fig_w * r.h / r.w : 0;
        if (r.tex) ImGui::Image(gpu_id(r.tex), ImVec2(fig_w, fig_h));
        app_mark("compare " + r.key);
        ImGui::TextDisabled(T(ctext::kMapCaption), r.method.c_str(), T(r.cls_name), r.layer.c_str());
        for (size_t k = 0; k < r.top.size(); k++) {
            const AppPred& p = r.top[k];
            ImGui::ProgressBar(p.prob, ImVec2(std::min(100.0f, fw * 0.3f), 0), fmt("%5.1f%%", 100.0 * p.prob).c_str());
            ImGui::SameLine();
            ImGui::TextUnformatted(fmt("%s  [%d]", T(p.name), p.index).c_str());
            app_mark(fmt("compare %s %d", r.key.c_str(), (int)k));
        }
        ImGui::EndGroup();
    }
}

std::string g_select_tool;   // a section to open on the next frame (ui_on_tool_start, a link)
void panel_tools() {
    App& a = g_app;
    if (!a.model_ready) {
        ImGui::TextDisabled("%s", a.busy ? T("Loading the model...") : T("No model is loaded."));
        return;
    }
    AppTools& t = a.tools_tab;
    static std::string shown;   // the section drawn last: another one asked for opens
    static std::string shown_layout;   // a new layout has a new tab bar: the open section stays open
    if (t.open != shown || g_layout != shown_layout) g_select_tool = t.open;
    shown_layout = g_layout;
    ImGui::TextWrapped("%s", T("Is the network cheating? Test the explanation, not only draw it."));
    if (ImGui::BeginTabBar("##toolbar", ImGuiTabBarFlags_FittingPolicyScroll)) {
        // a narrow window: the first word of each label ("Sanity check": Sanity), so that all fit
        const bool narrow = ImGui::GetContentRegionAvail().x < 560;
        std::vector<std::pair<std::string, std::string>> sections = {{"edit", narrow ? T("Edit") : T("Edit the input")}};
        for (const AppTool& x : a.tools) {
            const std::string label = T(x.label);   // Chinese has no spaces: the whole label
            sections.push_back({x.name, narrow && !ui_zh() ? label.substr(0, label.find(' ')) : label});
        }
        sections.push_back({"compare", narrow ? T(ctext::kSectionShort) : T(ctext::kSection)});
        for (const auto& [id, label] : sections) {
            const ImGuiTabItemFlags f = g_select_tool == id ? ImGuiTabItemFlags_SetSelected : 0;
            const bool open = ImGui::BeginTabItem((label + "###tool" + id).c_str(), nullptr, f);
            app_mark("tool " + id);
            if (!open) continue;
            if (g_select_tool.empty() || g_select_tool == id) t.open = shown = id;
            ImGui::BeginChild("##toolbody");
            if (id == "edit") tool_edit();
            else if (id == "occlusion") tool_occlusion(*app_tool(id));
            else if (id == "faithfulness") tool_faithfulness(*app_tool(id));
            else if (id == "sanity") tool_sanity(*app_tool(id));
            else if (id == "pointing") tool_pointing(*app_tool(id));
            else if (id == "compare") tool_compare();
            else dim_wrapped("%s", T(app_tool(id)->about));
            ImGui::EndChild();
            ImGui::EndTabItem();
        }
        ImGui::EndTabBar();
    }
    g_select_tool.clear();
}

// ---------------------------------------------------------------------------- model
// UI sizes offered (A- / A+ in the title row, the Model tab); scale= takes any from 0.5 to 3.
const float kScales[] = {0.75f, 1.0f, 1.25f, 1.5f, 1.75f, 2.0f, 2.5f, 3.0f};

void request_scale(float s) { app_request(fmt("{\"op\":\"scale\",\"value\":%g}", (double)s)); }


void panel_model() {
    App& a = g_app;
    if (a.model_ready) {
        ImGui::TextWrapped(T("Model: %s. It knows %s."), T(a.model_name), T(a.knows));
        ImGui::TextWrapped("%s", a.model_describe.c_str());
        dim_wrapped(T("input %dx%d, %s preprocessing, %s; built in %.0f ms; %d thread%s"), a.input_size, a.input_size,
                    a.preprocess.c_str(), a.resize.c_str(), a.ms_load, a.threads, a.threads == 1 ? "" : "s");
        if (a.lean) dim_wrapped("%s", T("A compact file (cnnlens pack): lean convolutions, a third of the memory, 2.5 to 3 times the time. A float32 file runs the fast ones."));
    } else {
        ImGui::TextDisabled("%s", a.busy ? T("Loading the model...") : T("No model is loaded."));
    }
    if (ImGui::Button(T("Use the built-in model"))) app_request("{\"op\":\"builtin\"}");
    app_mark("Use the built-in model");
    ImGui::SameLine();
    vgg16_button();
    ImGui::Separator();
    ImGui::TextWrapped("%s", T("VGG weights by URL (safetensors, .pth or Keras .h5):"));
    ImGui::SetNextItemWidth(-1);
    if (text_field("##wurl", T("weights URL (https://...)"), a.weights_url, sizeof a.weights_url)) a.weights_size = -1;
    app_mark("weights URL");
    if (ImGui::Button(T("Check size"))) {
        a.weights_size = -2;
        app_request("{\"op\":\"headWeights\",\"url\":" + json_quote(a.weights_url) + "}");
    }
    ImGui::SameLine();
    if (a.busy) ImGui::BeginDisabled();
    if (ImGui::Button(T("Download and load"))) app_request("{\"op\":\"weightsUrl\",\"url\":" + json_quote(a.weights_url) + "}");
    app_mark("Download and load");
    if (a.busy) ImGui::EndDisabled();
    ImGui::SameLine();
    if (a.weights_size == -2) ImGui::TextDisabled("%s", T("asking..."));
    else if (a.weights_size >= 0) ImGui::Text("%s", bytes_text(a.weights_size).c_str());
    else if (!a.weights_size_error.empty()) ImGui::TextColored(ImVec4(1, 0.5f, 0.4f, 1), "%s", a.weights_size_error.c_str());
    else ImGui::TextUnformatted("");   // ends the row
    dim_wrapped("%s", T("Downloads are kept in the browser's cache, so the next visit works offline."));
    if (ImGui::Button(T("Open weights file..."))) app_request("{\"op\":\"pickWeights\"}");
    ImGui::SameLine();
    dim_wrapped("%s", T("or drop a .safetensors / .pth / .h5 file anywhere"));
    if (ImGui::Button(T("Clear cached downloads"))) app_request("{\"op\":\"clearCache\"}");

    section(T("Display"));
    ImGui::TextUnformatted(T("UI size:"));
    for (float s : {1.0f, 1.25f, 1.5f, 2.0f}) {
        ImGui::SameLine();
        if (ImGui::RadioButton(fmt("%.0f%%", s * 100).c_str(), std::fabs(a.ui_scale - s) < 0.01f)) request_scale(s);
        app_mark(fmt("scale %.0f", s * 100));
    }
    dim_wrapped("%s", T("Larger text and controls for a projector or a classroom screen (also A- / A+ at the top "
                "right, and the scale= URL parameter); the browser's zoom works too."));
}

// ---------------------------------------------------------------------------- frame

// The language switch's label: the other language, named in a way the page can draw before the
// Chinese glyphs are loaded.
const char* kOtherLang() { return ui_zh() ? "English" : "zh-CN"; }

// The guided lesson (web/lesson.js; web/app.js applies each step's view): the step's title, its
// paragraph and what to try, then previous / step numbers / next. Drawn under the title row, above
// every layout but the embed's, in a box as tall as its text. "Hide the text" folds it to the title
// and the buttons (on a phone, without the step numbers), so the view below gets the screen back.
void lesson_box() {
    App& a = g_app;
    if (a.lesson_steps <= 0 || a.embed) return;
    const float right = ImGui::GetWindowContentRegionMax().x;
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->ChannelsSplit(2);
    dl->ChannelsSetCurrent(1);
    ImGui::BeginGroup();
    ImGui::Dummy(ImVec2(0, 2));
    ImGui::Indent(8);
    ImGui::PushTextWrapPos(right - 8);
    ImGui::TextWrapped(T("Lesson, step %d of %d: %s"), a.lesson_step, a.lesson_steps, a.lesson_title.c_str());
    app_mark("lesson title");
    if (!a.lesson_collapsed) {
        ImGui::TextWrapped("%s", a.lesson_text.c_str());
        app_mark("lesson text");
        ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.80f, 0.35f, 1));
        ImGui::TextWrapped(T("Try it: %s"), a.lesson_try.c_str());
        ImGui::PopStyleColor();
        app_mark("lesson try");
    }
    ImGui::PopTextWrapPos();
    if (ImGui::SmallButton(a.lesson_collapsed ? T("Show the text") : T("Hide the text"))) a.lesson_collapsed = !a.lesson_collapsed;
    app_mark("lesson toggle");
    if (ImGui::IsItemHovered())
        ImGui::SetTooltip("%s", a.lesson_collapsed ? T("Show the lesson's text again") : T("Fold the lesson to one line, to see more of the view"));
    // the row wraps in a narrow window
    auto next_to = [&](const char* label) {
        const float w = ImGui::CalcTextSize(label, nullptr, true).x + 2 * ImGui::GetStyle().FramePadding.x;
        ImGui::SameLine();
        if (ImGui::GetCursorPosX() + w > right - 8) ImGui::NewLine();
    };
    auto go = [](int step) { app_request(fmt("{\"op\":\"lesson\",\"step\":%d}", step)); };
    next_to(T("< Previous"));
    if (a.lesson_step <= 1) ImGui::BeginDisabled();
    if (ImGui::SmallButton(T("< Previous"))) go(a.lesson_step - 1);
    app_mark("lesson previous");
    if (a.lesson_step <= 1) ImGui::EndDisabled();
    const bool numbers = !a.lesson_collapsed || g_layout != "narrow";
    for (int i = 1; numbers && i <= a.lesson_steps; i++) {
        next_to("8");
        const bool here = i == a.lesson_step;
        if (here) ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetStyleColorVec4(ImGuiCol_ButtonActive));
        if (ImGui::SmallButton(fmt("%d", i).c_str())) go(i);
        if (here) ImGui::PopStyleColor();
        app_mark(fmt("lesson step %d", i));
    }
    next_to(T("Next >"));
    if (a.lesson_step >= a.lesson_steps) ImGui::BeginDisabled();
    if (ImGui::SmallButton(T("Next >"))) go(a.lesson_step + 1);
    app_mark("lesson next");
    if (a.lesson_step >= a.lesson_steps) ImGui::EndDisabled();
    next_to(T("End the lesson"));
    if (ImGui::SmallButton(T("End the lesson"))) go(0);
    app_mark("lesson close");
    ImGui::Unindent(8);
    ImGui::Dummy(ImVec2(0, 2));
    ImGui::EndGroup();
    dl->ChannelsSetCurrent(0);
    const ImVec2 r0 = ImGui::GetItemRectMin();
    dl->AddRectFilled(r0, ImVec2(ImGui::GetWindowPos().x + right, ImGui::GetItemRectMax().y), IM_COL32(28, 48, 74, 255), 4.0f);
    dl->ChannelsMerge();
    app_mark("lesson");
}

// The title row. The progress of a running job shares it, so nothing below moves; so do the UI
// size buttons (right) or, in an embed, the link to the full page.
void header(bool embed) {
    App& a = g_app;
    ImGui::TextUnformatted(T("CNN Lens"));
    ImGui::SameLine();
    const ImGuiStyle& st = ImGui::GetStyle();
    const float link_w = embed ? ImGui::CalcTextSize(T("Open in full page")).x + 2 * st.FramePadding.x
                               : ImGui::CalcTextSize("A- 100% A+").x + 4 * st.FramePadding.x + 2 * st.ItemSpacing.x +
                                     ImGui::CalcTextSize(T("Lesson")).x + ImGui::CalcTextSize(kOtherLang()).x +
                                     4 * st.FramePadding.x + 2 * st.ItemSpacing.x;
    float avail = ImGui::GetContentRegionAvail().x - link_w - 8;
    if (a.busy) {
        std::string text = a.progress_label;
        // a computation counts its steps (positions, channels, ...), a download or a read its bytes
        if (a.progress_total > 0 && a.progress_steps) text += fmt("  %.0f / %.0f", a.progress_done, a.progress_total);
        else if (a.progress_total > 0) text += fmt("  %s / %s", bytes_text(a.progress_done).c_str(), bytes_text(a.progress_total).c_str());
        const float bw = std::max(60.0f, avail - (a.progress_cancellable ? 70 : 0));
        float frac;
        if (a.progress_total > 0) frac = (float)(a.progress_done / a.progress_total);
        else {   // indeterminate: a bar sweeping back and forth
            float t = (float)std::fmod(ImGui::GetTime() * 0.8, 2.0);
            frac = t < 1 ? t : 2 - t;
        }
        ImGui::PushStyleVar(ImGuiStyleVar_FramePadding, ImVec2(4, 0));
        ImGui::ProgressBar(frac, ImVec2(bw, ImGui::GetTextLineHeight()), text.c_str());
        ImGui::PopStyleVar();
        if (a.progress_cancellable) {
            ImGui::SameLine();
            if (ImGui::SmallButton(T("Cancel"))) app_request("{\"op\":\"cancel\"}");
        }
    } else if (embed && a.have_result && !a.top.empty()) {
        ImGui::TextDisabled("%s: %.1f%%", class_label_ui(a.top[0].index), 100 * a.top[0].prob);
    } else if (avail > 420) {
        ImGui::TextDisabled("%s", T("what a VGG network sees; everything runs in your browser"));
    } else if (avail > ImGui::CalcTextSize(T("what a VGG sees")).x + 8) {   // a phone: no room for it
        ImGui::TextDisabled("%s", T("what a VGG sees"));
    }
    ImGui::SameLine(std::max(ImGui::GetCursorPosX(), ImGui::GetWindowContentRegionMax().x - link_w));
    if (embed) {
        if (ImGui::SmallButton(T("Open in full page"))) app_request("{\"op\":\"openFull\"}");
        app_mark("Open in full page");
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", T("This view in a new tab, with every panel"));
        return;
    }
    const int n = (int)std::size(kScales);
    int at = 0;   // the offered size nearest the current one
    for (int i = 0; i < n; i++)
        if (std::fabs(kScales[i] - a.ui_scale) < std::fabs(kScales[at] - a.ui_scale)) at = i;
    // the guided lesson (web/lesson.js) and the other language
    if (ImGui::SmallButton(T("Lesson"))) app_request(fmt("{\"op\":\"lesson\",\"step\":%d}", a.lesson_steps ? 0 : 1));
    app_mark("start lesson");
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", a.lesson_steps ? T("Close the lesson") : T("A guided lesson in eight steps, on the live models"));
    ImGui::SameLine();
    if (ImGui::SmallButton(kOtherLang())) app_request(fmt("{\"op\":\"lang\",\"lang\":\"%s\"}", ui_zh() ? "en" : "zh"));
    app_mark("language");
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", ui_zh() ? "English" : "Chinese (zh-CN)");
    ImGui::SameLine();
    if (ImGui::SmallButton("A-") && at > 0) request_scale(kScales[at - 1]);
    app_mark("UI smaller");
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", T("Smaller text and controls"));
    ImGui::SameLine();
    ImGui::TextDisabled("%3.0f%%", a.ui_scale * 100);
    ImGui::SameLine();
    if (ImGui::SmallButton("A+") && at + 1 < n) request_scale(kScales[at + 1]);
    app_mark("UI larger");
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", T("Larger text and controls (a projector, a classroom screen)"));
}

// Messages over the layout, bottom right: errors stay until dismissed or until what caused them
// works again (web/app.js clears them); others go after a few seconds.
void toasts() {
    App& a = g_app;
    const double now = emscripten_get_now();
    for (size_t i = 0; i < a.messages.size(); i++)
        if (a.messages[i].until > 0 && now > a.messages[i].until) a.messages.erase(a.messages.begin() + (long)i--);
    if (a.messages.empty()) return;
    const ImGuiViewport* vp = ImGui::GetMainViewport();
    const float w = std::min(460.0f, vp->Size.x - 16);
    ImGui::SetNextWindowPos(ImVec2(vp->Pos.x + vp->Size.x - 8, vp->Pos.y + vp->Size.y - 8), ImGuiCond_Always, ImVec2(1, 1));
    ImGui::SetNextWindowSizeConstraints(ImVec2(std::min(w, 200.0f), 0), ImVec2(w, vp->Size.y * 0.5f));
    ImGui::PushStyleColor(ImGuiCol_WindowBg, ImVec4(0.20f, 0.10f, 0.10f, 0.96f));
    ImGui::PushStyleColor(ImGuiCol_Border, ImVec4(0.9f, 0.45f, 0.35f, 0.9f));
    ImGui::PushStyleVar(ImGuiStyleVar_WindowBorderSize, 1.0f);
    ImGui::Begin("##toasts", nullptr,
                 ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_AlwaysAutoResize | ImGuiWindowFlags_NoFocusOnAppearing |
                     ImGuiWindowFlags_NoNav | ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoMove);
    for (size_t i = 0; i < a.messages.size(); i++) {
        const AppMessage& m = a.messages[i];
        ImGui::PushID((int)i);
        const bool dismiss = ImGui::SmallButton("x");
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", T("dismiss"));
        ImGui::SameLine();
        ImGui::PushTextWrapPos(w - 16);
        ImGui::PushStyleColor(ImGuiCol_Text, m.error ? ImVec4(1.0f, 0.62f, 0.52f, 1) : ImVec4(0.85f, 0.88f, 0.95f, 1));
        ImGui::TextWrapped("%s", m.text.c_str());
        ImGui::PopStyleColor();
        ImGui::PopTextWrapPos();
        app_mark(fmt("toast %d", (int)i));
        ImGui::PopID();
        if (dismiss) {
            a.messages.erase(a.messages.begin() + (long)i);
            break;
        }
    }
    ImGui::End();
    ImGui::PopStyleVar();
    ImGui::PopStyleColor(2);
}

// [ and ] step through the layers of the open view (Grad-CAM's layer on Where it looks, else the
// feature maps' layer), whichever widget has the focus, except while typing.
void layer_keys() {
    App& a = g_app;
    if (!a.model_ready || ImGui::GetIO().WantTextInput) return;
    const int step = ImGui::IsKeyPressed(91 /* GLFW_KEY_LEFT_BRACKET */) ? -1 : ImGui::IsKeyPressed(93 /* GLFW_KEY_RIGHT_BRACKET */) ? 1 : 0;
    if (!step) return;
    const AppMethod* m = app_method(a.method);
    if (g_open_tab == "gradcam") {
        if (!(m && m->head_input_only) && step_layer(a.cam_layer, step, true)) app_request_view();
    } else if (step_layer(a.layer, step, false)) {
        a.zoom_channel = -1;
        app_request_view();
    }
}

void layout_wide(const ImGuiViewport* vp) {
    App& a = g_app;
    // the left column: room for the image beside its predictions on a large screen; otherwise
    // narrower, so the tabs keep two controls per row
    const float left = vp->Size.x >= 1200 ? std::min(520.0f, vp->Size.x * 0.4f) : std::max(260.0f, vp->Size.x * 0.35f);
    ImGui::BeginChild("##left", ImVec2(left, 0), true);
    if (g_select_tab == "input" || g_select_tab == "top5") ImGui::SetScrollY(0);
    const float inner = ImGui::GetContentRegionAvail().x;
    if (inner >= 460) {   // the image and its predictions side by side
        const float side = std::min(200.0f, inner * 0.42f);
        ImGui::BeginGroup();
        panel_input_image(side);
        ImGui::EndGroup();
        ImGui::SameLine(0, 12);
        ImGui::BeginGroup();
        ImGui::PushTextWrapPos(inner);
        panel_predictions();
        ImGui::PopTextWrapPos();
        ImGui::EndGroup();
    } else {
        panel_input_image(240);
        section(T("Predictions"));
        panel_predictions();
    }
    section(T("Another image"));
    panel_input_buttons();
    if (!a.samples.empty()) panel_gallery();
    ImGui::EndChild();
    ImGui::SameLine();
    ImGui::BeginChild("##right", ImVec2(0, 0), true);
    if (ImGui::BeginTabBar("##tabs")) {
        for (const char* id : {"maps", "gradcam", "tools", "model"}) {
            const TabDef* t = tab_def(id);
            if (!begin_tab(t->id, t->label)) continue;
            if (!std::strcmp(id, "maps")) panel_feature_maps();
            else if (!std::strcmp(id, "gradcam")) panel_where();
            else if (!std::strcmp(id, "tools")) panel_tools();
            else panel_model();
            ImGui::EndTabItem();
        }
        ImGui::EndTabBar();
    }
    ImGui::EndChild();
}

void layout_narrow() {
    App& a = g_app;
    if (!ImGui::BeginTabBar("##tabs", ImGuiTabBarFlags_FittingPolicyScroll)) return;
    for (const TabDef& t : kTabs) {
        if (!begin_tab(t.id, t.short_label)) continue;
        const std::string id = t.id;
        if (id == "maps") panel_feature_maps();
        else {
            ImGui::BeginChild("##c");
            if (id == "input") {
                panel_input_image(320);
                panel_input_buttons();
                if (!a.samples.empty()) panel_gallery();
            } else if (id == "top5") panel_predictions();
            else if (id == "gradcam") panel_where();
            else if (id == "tools") panel_tools();
            else panel_model();
            ImGui::EndChild();
        }
        ImGui::EndTabItem();
    }
    ImGui::EndTabBar();
}

// The embed's Grad-CAM: the map as large as the frame allows, the controls beside it (or below
// it in a frame narrower than kEmbedSideBySide).
void embed_where() {
    App& a = g_app;
    if (!a.model_ready) {
        ImGui::TextDisabled("%s", a.busy ? T("Loading the model...") : T("No model is loaded."));
        return;
    }
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float caption = 2 * ImGui::GetTextLineHeightWithSpacing();
    const bool beside = ImGui::GetMainViewport()->Size.x >= kEmbedSideBySide;
    const float s = beside ? std::max(120.0f, std::min(avail.y - caption, avail.x - 200)) : std::min(avail.x, avail.y * 0.62f);
    ImGui::BeginGroup();
    if (!no_map()) heat_view(a.heats[0], s, heat_caption(a.heats[0]).c_str(), "heatmap");
    else ImGui::Dummy(ImVec2(s, 1));
    ImGui::EndGroup();
    if (beside) ImGui::SameLine(0, 12);
    ImGui::BeginChild("##controls", ImVec2(0, 0), false);
    const float w = ImGui::GetContentRegionAvail().x;
    if (where_controls(w, true)) app_request_view();
    gpu_colorbar(ImVec2(std::min(w, 200.0f), 8), a.cmap);
    if (a.image_tex) {
        const float t = std::min(96.0f, w);
        ImGui::Image(gpu_id(a.image_tex), ImVec2(t, t));
        app_mark("input image");
        ImGui::TextDisabled("%s", T("what the network sees"));
    }
    ImGui::EndChild();
}

void layout_embed() {
    App& a = g_app;
    if (!ImGui::BeginTabBar("##tabs", ImGuiTabBarFlags_FittingPolicyScroll)) return;
    for (const char* id : {"top5", "maps", "gradcam", "tools", "model"}) {
        const TabDef* t = tab_def(id);
        if (!begin_tab(t->id, t->short_label)) continue;
        const std::string tab = id;
        if (tab == "gradcam") embed_where();
        else if (tab == "maps") panel_feature_maps(true);
        else {
            ImGui::BeginChild("##c");
            if (tab == "tools") panel_tools();
            else if (tab == "top5") {
                const float inner = ImGui::GetContentRegionAvail().x;
                const bool beside = ImGui::GetMainViewport()->Size.x >= kEmbedSideBySide;
                ImGui::BeginGroup();
                panel_input_image(beside ? std::min(ImGui::GetContentRegionAvail().y - 40, inner * 0.45f) : 240);
                ImGui::EndGroup();
                if (beside) ImGui::SameLine(0, 12);
                ImGui::BeginGroup();
                ImGui::PushTextWrapPos(inner);
                panel_predictions(false);
                ImGui::Spacing();
                panel_input_buttons();
                ImGui::PopTextWrapPos();
                ImGui::EndGroup();
            } else {
                panel_model();
            }
            ImGui::EndChild();
        }
        ImGui::EndTabItem();
    }
    ImGui::EndTabBar();
}

}  // namespace

extern "C" {
// Opens a tab on the next frame (in the wide layout, input and top5 scroll the left column up).
// name: a tab id (input, top5, maps, gradcam, model) or its label. 0 if there is no such tab.
EMSCRIPTEN_KEEPALIVE int ui_select_tab(const char* name) {
    const TabDef* t = tab_def(name ? name : "");
    if (!t) return 0;
    // an embed shows the input with the predictions
    g_select_tab = g_app.embed && !std::strcmp(t->id, "input") ? "top5" : t->id;
    g_select_frames = 2;
    return 1;
}
// The open tab; one asked for and not drawn open yet counts as open (cnnlens.tab(), link()).
EMSCRIPTEN_KEEPALIVE const char* ui_open_tab() { return (g_select_tab.empty() ? g_open_tab : g_select_tab).c_str(); }
EMSCRIPTEN_KEEPALIVE const char* ui_layout() { return g_layout.c_str(); }
// The filmstrip's maps and the scale each is shown with: [{layer, min, max, lo, hi}].
EMSCRIPTEN_KEEPALIVE const char* ui_filmstrip() { return g_filmstrip_json.c_str(); }
// A class by index, name or WordNet id (as `cnnlens explain --class`); -1 if none.
EMSCRIPTEN_KEEPALIVE int ui_class_find(const char* q) {
    return cnnlens::class_find(g_app.class_names, g_app.num_classes, q ? q : "");
}
// After a model change: the gallery image to show instead of `image_url` when that is a gallery
// image which does not suit the new model (a Fashion-MNIST image on VGG16, a photo on the
// built-in model): the first one that does, as {"url", "name"}; "" to keep the image.
EMSCRIPTEN_KEEPALIVE const char* ui_sample_for_model(const char* image_url) {
    static std::string out;
    out.clear();
    const std::string url = image_url ? image_url : "";
    const AppSample* current = nullptr;
    for (const AppSample& s : g_app.samples)
        if (s.url == url) current = &s;
    if (!current || sample_fits(*current)) return "";
    for (const AppSample& s : g_app.samples)
        if (sample_fits(s)) {
            cnnlens::JsonWriter j;
            out = j.begin_object().field("url", s.url).field("name", s.name).end_object().str();
            break;
        }
    return out.c_str();
}
}

std::string class_label(int index) {
    return index < 0 ? std::string() : cnnlens::class_name(g_app.class_names, g_app.num_classes, index);
}

void app_draw() {
    App& a = g_app;
    const ImGuiViewport* vp = ImGui::GetMainViewport();
    ImGui::SetNextWindowPos(vp->Pos);
    ImGui::SetNextWindowSize(vp->Size);
    ImGui::Begin("CNN Lens", nullptr,
                 ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings |
                     ImGuiWindowFlags_NoBringToFrontOnFocus);
    const std::string layout = a.embed ? "embed" : vp->Size.x >= kWideMin ? "wide" : "narrow";
    if (layout != g_layout && !g_layout.empty() && g_select_tab.empty())   // keep the tab
        g_select_tab = g_open_tab, g_select_frames = 2;
    g_layout = layout;
    header(a.embed);
    lesson_box();
    if (layout == "wide") layout_wide(vp);
    else if (layout == "narrow") layout_narrow();
    else layout_embed();
    if (--g_select_frames <= 0) g_select_tab.clear();
    layer_keys();
    ImGui::End();
    toasts();
}
