// panels.cpp: the interface, rebuilt every frame from g_app (Dear ImGui immediate mode).
//
// Wide windows (>= 860 px): Input + Predictions on the left, tabs Feature maps / Where it looks /
// Model on the right. Narrow windows: one tab per panel. Everything is a plain ImGui widget, so
// mouse, touch (GLFW turns it into mouse events) and keyboard (Tab / arrows / Enter) all work.
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
#include "io/imagenet_labels.h"
#include "model/predict.h"

using cnnlens::json_quote;

namespace {

std::string g_select_tab;   // set by ui_select_tab(): that tab opens on the next frame
std::string g_open_tab;     // the tab drawn last (of the right column in the wide layout)

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
    if (b < 0) return "unknown size";
    if (b >= 1e9) return fmt("%.2f GB", b / 1e9);
    if (b >= 1e6) return fmt("%.1f MB", b / 1e6);
    if (b >= 1e3) return fmt("%.0f KB", b / 1e3);
    return fmt("%.0f B", b);
}

// Dim text that wraps at the window edge (narrow windows).
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

int top1() { return g_app.top.empty() ? -1 : g_app.top[0].index; }
int shown_class() { return g_app.cls >= 0 ? g_app.cls : top1(); }

// A tab whose ID is `name` (what ui_select_tab takes) and whose label may be shorter.
bool begin_tab(const char* name, const char* label = nullptr) {
    ImGuiTabItemFlags f = 0;
    if (g_select_tab == name) f |= ImGuiTabItemFlags_SetSelected;
    std::string id = std::string(label ? label : name) + "###" + name;
    const bool open = ImGui::BeginTabItem(id.c_str(), nullptr, f);
    if (open) g_open_tab = name;
    return open;
}

bool colormap_combo(const char* label) {
    App& a = g_app;
    bool changed = false;
    if (ImGui::BeginCombo(label, cnnlens::colormap_name(cnnlens::kColormaps[a.cmap]))) {
        for (int i = 0; i < (int)std::size(cnnlens::kColormaps); i++)
            if (ImGui::Selectable(cnnlens::colormap_name(cnnlens::kColormaps[i]), i == a.cmap)) a.cmap = i, changed = true;
        ImGui::EndCombo();
    }
    return changed;
}

// "281 tabby cat" for ImageNet, "7 Sneaker" for a model with named classes, "class 2" otherwise.
std::string class_text(int c) {
    if (c < 0) return "-";
    if (g_app.num_classes == cnnlens::kImageNetNumClasses || !g_app.class_names.empty())
        return fmt("%d %s", c, class_label(c).c_str());
    return class_label(c);
}

// ---------------------------------------------------------------------------- input

// The image as the network saw it, or the drop zone.
void panel_input_image() {
    App& a = g_app;
    const float avail = ImGui::GetContentRegionAvail().x;
    const float side = std::min(avail, 320.0f);
    if (a.image_tex) {
        ImGui::Image(gpu_id(a.image_tex), ImVec2(side, side));
        ImGui::TextWrapped("%s  %dx%d -> %dx%d (%s)", a.image_name.c_str(), a.image_w, a.image_h, a.image_side,
                           a.image_side, a.resize.c_str());
        if (a.resize == "object") {
            ImGui::TextDisabled("the network's view: grey, light on dark");
            help_marker("What the network sees: greyscale, the object light on a dark background (a light "
                        "background is inverted), trimmed to the object and centred, like the Fashion-MNIST "
                        "images it learned from.");
        }
    } else {
        ImVec2 p = ImGui::GetCursorScreenPos();
        ImGui::InvisibleButton("##dropzone", ImVec2(side, side * 0.6f));
        bool clicked = ImGui::IsItemClicked();
        ImDrawList* dl = ImGui::GetWindowDrawList();
        dl->AddRect(p, ImVec2(p.x + side, p.y + side * 0.6f), IM_COL32(140, 140, 160, 255), 6.0f, 0, 2.0f);
        const char* t1 = "Drop an image here";
        const char* t2 = "(or anywhere on the page)";
        ImVec2 s1 = ImGui::CalcTextSize(t1), s2 = ImGui::CalcTextSize(t2);
        dl->AddText(ImVec2(p.x + (side - s1.x) / 2, p.y + side * 0.3f - s1.y), IM_COL32(220, 220, 230, 255), t1);
        dl->AddText(ImVec2(p.x + (side - s2.x) / 2, p.y + side * 0.3f + 2), IM_COL32(160, 160, 170, 255), t2);
        if (clicked) app_request("{\"op\":\"pickImage\"}");
    }
}

// Where images come from: file picker, clipboard, webcam, URL, the gallery.
void panel_input_sources() {
    App& a = g_app;
    const float avail = ImGui::GetContentRegionAvail().x;
    if (ImGui::Button("Open image...")) app_request("{\"op\":\"pickImage\"}");
    ImGui::SameLine();
    if (ImGui::Button("Paste")) app_request("{\"op\":\"paste\"}");
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("Paste an image from the clipboard (or press Ctrl+V / Cmd+V)");
    ImGui::SameLine();
    if (!a.webcam_on) {
        if (ImGui::Button("Webcam")) app_request("{\"op\":\"webcam\",\"on\":true}");
    } else {
        if (ImGui::Button("Freeze frame")) app_request("{\"op\":\"webcam\",\"on\":false}");
    }
    ImGui::SetNextItemWidth(std::max(80.0f, avail - ImGui::CalcTextSize("Load").x - 24));
    bool enter = ImGui::InputTextWithHint("##imageurl", "image URL (https://...)", a.image_url, sizeof a.image_url,
                                          ImGuiInputTextFlags_EnterReturnsTrue);
    ImGui::SameLine();
    if ((ImGui::Button("Load") || enter) && a.image_url[0])
        app_request("{\"op\":\"imageUrl\",\"url\":" + json_quote(a.image_url) + "}");
    if (!a.samples.empty()) {
        float x = 0;
        for (size_t i = 0; i < a.samples.size(); i++) {
            const AppSample& s = a.samples[i];
            const float t = (float)s.w;
            if (i == 0 || s.group != a.samples[i - 1].group) {
                ImGui::TextDisabled("%s", s.group.empty() ? "Samples" : s.group.c_str());
                x = 0;
            }
            ImGui::PushID((int)i);
            if (x > 0 && x + t + 8 > avail) x = 0;
            else if (x > 0) ImGui::SameLine();
            if (ImGui::ImageButton(gpu_id(s.thumb), ImVec2(t, t), ImVec2(0, 0), ImVec2(1, 1), 2))
                app_request("{\"op\":\"sample\",\"url\":" + json_quote(s.url) + ",\"name\":" + json_quote(s.name) + "}");
            if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", s.name.c_str());
            x += t + 8 + ImGui::GetStyle().ItemSpacing.x;
            ImGui::PopID();
        }
    }
}

void panel_input() {
    panel_input_image();
    panel_input_sources();
}

// ---------------------------------------------------------------------------- predictions

void panel_predictions() {
    App& a = g_app;
    if (!a.have_result) {
        ImGui::TextDisabled(a.model_ready ? "No image yet." : "Loading the model...");
    } else {
        const float w = ImGui::GetContentRegionAvail().x;
        for (size_t i = 0; i < a.top.size(); i++) {
            const AppPred& p = a.top[i];
            ImGui::PushID((int)i);
            bool sel = shown_class() == p.index;
            char label[64];
            std::snprintf(label, sizeof label, "%5.1f%%", 100.0 * p.prob);
            ImGui::ProgressBar(p.prob, ImVec2(std::min(110.0f, w * 0.3f), 0), label);
            ImGui::SameLine();
            if (ImGui::Selectable(fmt("%s  [%d]", p.name.c_str(), p.index).c_str(), sel)) {
                a.cls = (i == 0) ? -1 : p.index;
                app_request_view();
            }
            if (ImGui::IsItemHovered()) ImGui::SetTooltip("logit %.4f; click to explain this class", p.logit);
            ImGui::PopID();
        }
        ImGui::TextDisabled("forward %.0f ms", a.ms_forward);
    }
    ImGui::Spacing();
    ImGui::SetNextItemWidth(-1);
    ImGui::InputTextWithHint("##search",
                             a.num_classes == cnnlens::kImageNetNumClasses ? "search classes: name, index or WordNet id"
                                                                            : "search classes: name or index",
                             a.search, sizeof a.search);
    if (a.search[0] && a.num_classes > 0) {
        std::vector<int> hits;
        int n = cnnlens::class_search(a.class_names, a.num_classes, a.search, hits, 50);
        ImGui::BeginChild("##hits", ImVec2(0, std::min(8, (int)hits.size() + 1) * ImGui::GetTextLineHeightWithSpacing()),
                          true);
        for (int c : hits) {
            const char* wnid = a.num_classes == cnnlens::kImageNetNumClasses ? cnnlens::imagenet_classes()[c].wnid : "";
            if (ImGui::Selectable(fmt("%4d  %s  %s", c, wnid, class_label(c).c_str()).c_str(), shown_class() == c)) {
                a.cls = c;
                app_request_view();
            }
        }
        if (hits.empty()) ImGui::TextDisabled("no class matches");
        else if (n > (int)hits.size()) ImGui::TextDisabled("... %d more", n - (int)hits.size());
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

bool layer_combo(const char* label, int& layer, bool conv_only) {
    App& a = g_app;
    bool changed = false;
    const char* preview = layer >= 0 ? a.layers[(size_t)layer].name.c_str() : "-";
    if (ImGui::BeginCombo(label, preview, ImGuiComboFlags_HeightLarge)) {
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

void panel_feature_maps() {
    App& a = g_app;
    if (!a.model_ready) {
        ImGui::TextDisabled("Loading the model...");
        return;
    }
    ImGui::SetNextItemWidth(std::min(280.0f, ImGui::GetContentRegionAvail().x));
    if (layer_combo("Layer", a.layer, false)) {
        a.zoom_channel = -1;
        app_request_view();
    }
    ImGui::SameLine();
    // keyboard: [ and ] step through the layers
    if (ImGui::ArrowButton("##prev", ImGuiDir_Left) || (!ImGui::GetIO().WantTextInput && ImGui::IsKeyPressed(91 /* GLFW_KEY_LEFT_BRACKET */))) {
        for (int i = a.layer - 1; i >= 0; i--)
            if (a.layers[(size_t)i].kind == "conv" || a.layers[(size_t)i].kind == "pool") { a.layer = i; a.zoom_channel = -1; app_request_view(); break; }
    }
    ImGui::SameLine();
    if (ImGui::ArrowButton("##next", ImGuiDir_Right) || (!ImGui::GetIO().WantTextInput && ImGui::IsKeyPressed(93 /* GLFW_KEY_RIGHT_BRACKET */))) {
        for (int i = a.layer + 1; i < (int)a.layers.size(); i++)
            if (a.layers[(size_t)i].kind == "conv" || a.layers[(size_t)i].kind == "pool") { a.layer = i; a.zoom_channel = -1; app_request_view(); break; }
    }
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("previous / next layer (keys [ and ])");

    ImGui::TextUnformatted("Normalise:");
    ImGui::SameLine();
    bool renorm = ImGui::RadioButton("per channel", &a.norm_scope, 0);
    ImGui::SameLine();
    renorm |= ImGui::RadioButton("per layer", &a.norm_scope, 1);
    ImGui::SameLine();
    renorm |= ImGui::RadioButton("whole network", &a.norm_scope, 2);
    if (renorm) a.atlas_dirty = true;
    ImGui::SetNextItemWidth(140);
    ImGui::SliderInt("tile px", &a.tile, 16, 160);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(110);
    if (colormap_combo("colormap")) app_request_view();
    const std::vector<float>* hw = weights_for_layer(a.act_layer);
    if (!hw) ImGui::BeginDisabled();
    ImGui::Checkbox("sort by Grad-CAM weight", &a.sort_by_weight);
    if (!hw) {
        ImGui::EndDisabled();
        help_marker("Conv layers only: channels ordered by their Grad-CAM weight (alpha) for the class shown in "
                    "Where it looks, the channels that build its heatmap first.");
    }

    if (a.act.empty() || a.act_layer != a.layer) {
        ImGui::TextDisabled(a.have_result ? "Computing..." : "Drop an image to see its feature maps.");
        return;
    }
    if (a.atlas_dirty) build_atlas();
    const AppLayer& L = a.layers[(size_t)a.act_layer];
    dim_wrapped("%s: %d channels of %dx%d. Click a map to zoom.", L.name.c_str(), L.c, L.h, L.w);

    // zoom: the input and the chosen channel side by side
    if (a.zoom_channel >= 0) {
        const float s = std::min(240.0f, (ImGui::GetContentRegionAvail().x - 16) / 2);
        if (a.image_tex) ImGui::Image(gpu_id(a.image_tex), ImVec2(s, s));
        ImGui::SameLine();
        ImVec2 uv0, uv1;
        channel_uv(a.zoom_channel, uv0, uv1);
        gpu_map_image(a.atlas_tex, ImVec2(s, s), a.cmap, GPU_MAP, 0, 0, uv0, uv1);
        std::string extra;
        if (hw) extra = fmt(", Grad-CAM weight %.4g", (*hw)[(size_t)a.zoom_channel]);
        ImGui::Text("channel %d%s", a.zoom_channel, extra.c_str());
        ImGui::SameLine();
        if (ImGui::SmallButton("close zoom")) a.zoom_channel = -1;
    }

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
                if (ImGui::InvisibleButton("##ch", ImVec2(t, t))) a.zoom_channel = c;
                bool hov = ImGui::IsItemHovered();
                if (hov) ImGui::SetTooltip("channel %d", c);
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

// ---------------------------------------------------------------------------- where it looks

void heat_view(const AppHeat& h, float s, const char* caption) {
    App& a = g_app;
    ImGui::BeginGroup();
    if (h.tex && a.image_tex) gpu_map_image(h.tex, ImVec2(s, s), a.cmap, GPU_OVERLAY, a.image_tex, a.alpha);
    else ImGui::Dummy(ImVec2(s, s));
    ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + s);
    ImGui::TextWrapped("%s", caption);
    ImGui::PopTextWrapPos();
    ImGui::EndGroup();
}

// The filmstrip's maps on one shared scale (as the core's filmstrip figure), so layers compare.
void normalise_strip() {
    App& a = g_app;
    a.strip_dirty = false;
    cnnlens::Range all;
    for (const AppHeat& h : a.strip) {
        const cnnlens::Range r = cnnlens::value_range(h.map.data(), h.map.size());
        all.lo = std::min(all.lo, r.lo), all.hi = std::max(all.hi, r.hi);
    }
    for (AppHeat& h : a.strip) {
        std::vector<uint8_t> u8(h.map.size());
        for (size_t i = 0; i < u8.size(); i++) u8[i] = (uint8_t)(cnnlens::scale01(h.map[i], all) * 255.0f + 0.5f);
        h.tex = gpu_texture_r8(h.tex, h.w, h.h, u8.data(), true);
    }
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
    if (ImGui::BeginCombo(label, cur ? cur->label.c_str() : a.method.c_str())) {
        for (const AppMethod& m : a.methods) {
            const bool off = !m.unavailable.empty();
            if (off) ImGui::BeginDisabled();
            if (ImGui::Selectable(m.label.c_str(), m.name == a.method)) {
                a.method = m.name, changed = true;
                if (m.head_input_only) a.cam_layer = layer_named(a.last_conv);   // CAM exists at one layer only
            }
            if (off) ImGui::EndDisabled();
            if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
                ImGui::SetTooltip("%s", off ? m.unavailable.c_str() : m.about.c_str());
        }
        ImGui::EndCombo();
    }
    return changed;
}

void panel_where() {
    App& a = g_app;
    if (!a.model_ready) {
        ImGui::TextDisabled("Loading the model...");
        return;
    }
    const float w = ImGui::GetContentRegionAvail().x;
    const float cw = std::min(220.0f, w * 0.45f);
    bool changed = false;
    ImGui::SetNextItemWidth(cw);
    changed |= method_combo("method");
    if (w > 560) ImGui::SameLine();
    ImGui::SetNextItemWidth(cw);
    changed |= layer_combo("layer##cam", a.cam_layer, true);

    // class: top-5 or any class by search (Predictions panel)
    ImGui::SetNextItemWidth(cw);
    std::string cprev = class_text(shown_class());
    if (ImGui::BeginCombo("class", cprev.c_str())) {
        for (const AppPred& p : a.top)
            if (ImGui::Selectable(fmt("%s (%.1f%%)", class_text(p.index).c_str(), 100 * p.prob).c_str(), p.index == shown_class()))
                a.cls = p.index == top1() ? -1 : p.index, changed = true;
        ImGui::EndCombo();
    }
    if (w > 560) ImGui::SameLine();
    ImGui::SetNextItemWidth(cw);
    std::string c2prev = a.cls2 >= 0 ? class_text(a.cls2) : "off";
    if (ImGui::BeginCombo("compare with", c2prev.c_str())) {
        if (ImGui::Selectable("off", a.cls2 < 0)) a.cls2 = -1, changed = true;
        for (const AppPred& p : a.top)
            if (ImGui::Selectable(fmt("%s (%.1f%%)", class_text(p.index).c_str(), 100 * p.prob).c_str(), p.index == a.cls2))
                a.cls2 = p.index, changed = true;
        ImGui::EndCombo();
    }
    ImGui::SetNextItemWidth(cw);
    if (colormap_combo("colormap##cam")) changed = true;
    if (w > 560) ImGui::SameLine();
    ImGui::SetNextItemWidth(cw);
    ImGui::SliderFloat("overlay alpha", &a.alpha, 0.0f, 1.0f, "%.2f");
    changed |= ImGui::Checkbox("guided backprop", &a.guided);
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("guided Grad-CAM and guided backprop: the input pixels that raise the class score");
    ImGui::SameLine();
    changed |= ImGui::Checkbox("filmstrip of all conv layers", &a.filmstrip);
    if (changed) app_request_view();

    gpu_colorbar(ImVec2(std::min(w, 300.0f), 10), a.cmap);
    ImGui::TextDisabled("low"), ImGui::SameLine(std::min(w, 300.0f) - 24), ImGui::TextDisabled("high");

    if (!a.have_result || a.heats.empty()) {
        ImGui::TextDisabled(a.have_result ? "Computing..." : "Drop an image first.");
        return;
    }
    const int n = (a.cls2 >= 0 && a.heats.size() > 1) ? 2 : 1;
    const int views = n + (a.guided && a.guided_side ? 2 : 0);   // side by side when each can be >= 200 px
    int per_row = views;
    while (per_row > 1 && (w - 16 * (per_row - 1)) / per_row < 200) per_row--;
    const float s = std::min(384.0f, (w - 16 * (per_row - 1)) / per_row);
    for (int i = 0; i < n; i++) {
        const AppHeat& h = a.heats[(size_t)i];
        if (i && per_row > 1) ImGui::SameLine();
        const AppMethod* m = app_method(h.method);
        heat_view(h, s, fmt("%s of %s at %s", m ? m->label.c_str() : h.method.c_str(), class_text(h.cls).c_str(),
                            h.layer.c_str()).c_str());
    }
    if (a.guided && a.guided_side) {
        static const char* captions[2] = {"guided Grad-CAM", "guided backprop (grey: no effect)"};
        for (int k = 0; k < 2; k++) {
            if ((n + k) % per_row != 0) ImGui::SameLine();   // continue the row while there is room
            ImGui::BeginGroup();
            ImGui::Image(gpu_id(a.guided_tex[k]), ImVec2(s, s));
            ImGui::TextUnformatted(captions[k]);
            ImGui::EndGroup();
        }
    }
    ImGui::TextDisabled("backward %.0f ms, maps %.0f ms", a.ms_backward, a.ms_explain);
    if (a.filmstrip && !a.strip.empty()) {
        if (a.strip_dirty) normalise_strip();
        section("All conv layers (one shared scale)");
        const float fs = std::max(72.0f, std::min(140.0f, w / 5 - 8));
        float x = 0;
        for (size_t i = 0; i < a.strip.size(); i++) {
            if (i && x + fs + 8 <= w) ImGui::SameLine();
            else if (i) x = 0;
            heat_view(a.strip[i], fs, a.strip[i].layer.c_str());
            x += fs + 8;
        }
    }
}

// ---------------------------------------------------------------------------- model

void panel_model() {
    App& a = g_app;
    if (a.model_ready) {
        ImGui::TextWrapped("Model: %s", a.model_name.c_str());
        ImGui::TextWrapped("%s", a.model_describe.c_str());
        dim_wrapped("input %dx%d, %s preprocessing, %s; built in %.0f ms; %d thread%s", a.input_size, a.input_size,
                    a.preprocess.c_str(), a.resize.c_str(), a.ms_load, a.threads, a.threads == 1 ? "" : "s");
    } else {
        ImGui::TextDisabled("No model yet.");
    }
    if (ImGui::Button("Use the built-in model")) app_request("{\"op\":\"builtin\"}");
    ImGui::Separator();
    ImGui::TextWrapped("VGG16 ImageNet weights by URL (safetensors, .pth or Keras .h5):");
    ImGui::SetNextItemWidth(-1);
    if (ImGui::InputText("##wurl", a.weights_url, sizeof a.weights_url)) a.weights_size = -1;
    if (ImGui::Button("Check size")) {
        a.weights_size = -2;
        app_request("{\"op\":\"headWeights\",\"url\":" + json_quote(a.weights_url) + "}");
    }
    ImGui::SameLine();
    if (a.busy) ImGui::BeginDisabled();
    if (ImGui::Button("Download and load")) app_request("{\"op\":\"weightsUrl\",\"url\":" + json_quote(a.weights_url) + "}");
    if (a.busy) ImGui::EndDisabled();
    ImGui::SameLine();
    if (a.weights_size == -2) ImGui::TextDisabled("asking...");
    else if (a.weights_size >= 0) ImGui::Text("%s", bytes_text(a.weights_size).c_str());
    else if (!a.weights_size_error.empty()) ImGui::TextColored(ImVec4(1, 0.5f, 0.4f, 1), "%s", a.weights_size_error.c_str());
    else ImGui::TextUnformatted("");   // ends the row
    dim_wrapped("Downloads are kept in the browser's cache, so the next visit works offline.");
    if (ImGui::Button("Open weights file...")) app_request("{\"op\":\"pickWeights\"}");
    ImGui::SameLine();
    dim_wrapped("or drop a .safetensors / .pth / .h5 file anywhere");
    if (ImGui::Button("Clear cached downloads")) app_request("{\"op\":\"clearCache\"}");
    if (!a.status.empty()) dim_wrapped("%s", a.status.c_str());
}

// ---------------------------------------------------------------------------- frame

void header() {
    App& a = g_app;
    ImGui::TextUnformatted("CNN Lens");
    ImGui::SameLine();
    if (ImGui::GetContentRegionAvail().x > 480) ImGui::TextDisabled("what a VGG network sees; everything runs in your browser");
    else ImGui::TextDisabled("what a VGG sees");
    if (a.busy) {
        float frac = a.progress_total > 0 ? (float)(a.progress_done / a.progress_total) : -1.0f * (float)ImGui::GetTime();
        std::string text = a.progress_label;
        if (a.progress_total > 0) text += fmt("  %s / %s", bytes_text(a.progress_done).c_str(), bytes_text(a.progress_total).c_str());
        const float bw = ImGui::GetContentRegionAvail().x - (a.progress_cancellable ? 80 : 0);
        if (a.progress_total > 0) ImGui::ProgressBar(frac, ImVec2(bw, 0), text.c_str());
        else {
            // indeterminate: a bar sweeping back and forth
            float t = (float)std::fmod(ImGui::GetTime() * 0.8, 2.0);
            ImGui::ProgressBar(t < 1 ? t : 2 - t, ImVec2(bw, 0), text.c_str());
        }
        if (a.progress_cancellable) {
            ImGui::SameLine();
            if (ImGui::Button("Cancel")) app_request("{\"op\":\"cancel\"}");
        }
    }
    for (size_t i = 0; i < a.errors.size(); i++) {
        ImGui::PushID((int)i + 1000);
        const bool dismiss = ImGui::SmallButton("x");
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("dismiss");
        ImGui::SameLine();
        ImGui::PushStyleColor(ImGuiCol_Text, ImVec4(1.0f, 0.55f, 0.45f, 1));
        ImGui::TextWrapped("%s", a.errors[i].c_str());
        ImGui::PopStyleColor();
        ImGui::PopID();
        if (dismiss) {
            a.errors.erase(a.errors.begin() + (long)i);
            break;
        }
    }
}

}  // namespace

extern "C" {
// Opens a tab (or, in the wide layout, scrolls the left column) on the next frame; for tests.
EMSCRIPTEN_KEEPALIVE void ui_select_tab(const char* name) { g_select_tab = name ? name : ""; }
EMSCRIPTEN_KEEPALIVE const char* ui_open_tab() { return g_open_tab.c_str(); }
// A class by index, name or WordNet id (as `cnnlens explain --class`); -1 if none.
EMSCRIPTEN_KEEPALIVE int ui_class_find(const char* q) {
    return cnnlens::class_find(g_app.class_names, g_app.num_classes, q ? q : "");
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
    header();
    const bool wide = vp->Size.x >= 860;
    if (wide) {
        const float left = std::min(360.0f, vp->Size.x * 0.34f);
        ImGui::BeginChild("##left", ImVec2(left, 0), true);
        if (g_select_tab == "Input" || g_select_tab == "Predictions") ImGui::SetScrollY(0);
        panel_input_image();
        section("Predictions");
        panel_predictions();
        section("Another image");
        panel_input_sources();
        ImGui::EndChild();
        ImGui::SameLine();
        ImGui::BeginChild("##right", ImVec2(0, 0), true);
        if (ImGui::BeginTabBar("##tabs")) {
            if (begin_tab("Feature maps")) { panel_feature_maps(); ImGui::EndTabItem(); }
            if (begin_tab("Where it looks")) { panel_where(); ImGui::EndTabItem(); }
            if (begin_tab("Model")) { panel_model(); ImGui::EndTabItem(); }
            ImGui::EndTabBar();
        }
        ImGui::EndChild();
    } else if (ImGui::BeginTabBar("##tabs", ImGuiTabBarFlags_FittingPolicyScroll)) {
        if (begin_tab("Input")) { ImGui::BeginChild("##c"); panel_input(); ImGui::EndChild(); ImGui::EndTabItem(); }
        if (begin_tab("Predictions", "Top-5")) { ImGui::BeginChild("##c"); panel_predictions(); ImGui::EndChild(); ImGui::EndTabItem(); }
        if (begin_tab("Feature maps", "Maps")) { panel_feature_maps(); ImGui::EndTabItem(); }
        if (begin_tab("Where it looks", "Grad-CAM")) { ImGui::BeginChild("##c"); panel_where(); ImGui::EndChild(); ImGui::EndTabItem(); }
        if (begin_tab("Model")) { ImGui::BeginChild("##c"); panel_model(); ImGui::EndChild(); ImGui::EndTabItem(); }
        ImGui::EndTabBar();
    }
    g_select_tab.clear();
    ImGui::End();
}
