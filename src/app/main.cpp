// main.cpp: the UI module of the web app (Dear ImGui 1.86 + GLFW + WebGL2 on the page's main
// thread). Frame loop in four phases (poll, update, build the panels, render) and the bridge
// to web/app.js: JS calls the ui_on_* functions below with what the compute worker produced,
// the UI asks for work with app_request() (a JSON message to JS). No network runs here.
#include <emscripten/emscripten.h>
#include <GLES3/gl3.h>
#include <GLFW/glfw3.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <utility>

#include "app.h"
#include "core/error.h"
#include "core/json.h"
#include "explain/colormap.h"
#include "gpu.h"
#include "imgui.h"
#include "imgui_impl_glfw.h"
#include "imgui_impl_opengl3.h"

App g_app;

namespace {

GLFWwindow* g_window = nullptr;
double g_awake_until = 0;   // ms (emscripten_get_now): frames are drawn until then

// The UI draws only while something can change: input, news from JS, a running job, the
// webcam, an active text field. An idle page then costs no CPU, which the worker's network
// (and a laptop's battery) gets instead; the canvas keeps showing the last frame.
void wake(double ms = 1000) {
    const double t = emscripten_get_now() + ms;
    if (t > g_awake_until) g_awake_until = t;
}
void on_cursor(GLFWwindow*, double, double) { wake(); }
void on_button(GLFWwindow*, int, int, int) { wake(); }
void on_scroll(GLFWwindow*, double, double) { wake(); }
void on_key(GLFWwindow*, int, int, int, int) { wake(); }
void on_char(GLFWwindow*, unsigned int) { wake(); }
void on_focus(GLFWwindow*, int) { wake(); }

EM_JS(int, js_canvas_width, (), { return Module.canvas.width; });
EM_JS(int, js_canvas_height, (), { return Module.canvas.height; });
EM_JS(void, js_request, (const char* json), {
    const msg = UTF8ToString(json);
    if (Module.cnnlensRequest) Module.cnnlensRequest(JSON.parse(msg));
});
EM_JS(void, js_frame, (int n), { Module.cnnlensFrames = n; });

void frame() {
    // 1. poll: the canvas follows the window (web/app.js sizes it); GLFW and ImGui follow the canvas
    const int w = js_canvas_width(), h = js_canvas_height();
    if (w != g_app.width || h != g_app.height) {
        g_app.width = w, g_app.height = h;
        glfwSetWindowSize(g_window, w, h);
        wake();
    }
    glfwPollEvents();
    if (g_app.busy || g_app.webcam_on || ImGui::GetIO().WantTextInput) wake(300);
    if (emscripten_get_now() > g_awake_until) return;

    // 2. update + 3. build the panels
    gpu_new_frame();
    ImGui_ImplOpenGL3_NewFrame();
    ImGui_ImplGlfw_NewFrame();
    ImGui::NewFrame();
    app_draw();
    ImGui::Render();

    // 4. render
    int fw, fh;
    glfwGetFramebufferSize(g_window, &fw, &fh);
    glViewport(0, 0, fw, fh);
    glClearColor(0.09f, 0.10f, 0.12f, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    glfwSwapBuffers(g_window);
    js_frame(++g_app.frame);
}

std::string str(const char* s) { return s ? s : ""; }

}  // namespace

void app_request(const std::string& json) { js_request(json.c_str()); }

void app_request_view() {
    const App& a = g_app;
    cnnlens::JsonWriter j;
    j.begin_object().field("op", "view");
    for (auto [key, i] : {std::pair<const char*, int>{"layer", a.layer}, {"camLayer", a.cam_layer}}) {
        j.key(key);
        if (i >= 0 && i < (int)a.layers.size()) j.value(a.layers[(size_t)i].name);
        else j.null();
    }
    j.field("cls", a.cls).field("cls2", a.cls2).field("method", a.method)
        .field("cmap", cnnlens::colormap_name(cnnlens::kColormaps[a.cmap])).field("alpha", (double)a.alpha)
        .field("guided", a.guided).field("filmstrip", a.filmstrip);
    app_request(j.end_object().str());
}

const AppMethod* app_method(const std::string& name) {
    for (const AppMethod& m : g_app.methods)
        if (m.name == name) return &m;
    return nullptr;
}

// ---------------------------------------------------------------------------- called by web/app.js
extern "C" {

// web/app.js calls this after each ui_* call: draw the news.
EMSCRIPTEN_KEEPALIVE void ui_wake() { wake(); }

// Mouse wheel / touchpad scrolling in notches (positive dy = towards the user, i.e. scroll
// down), from web/app.js: emscripten 3.1.6's GLFW passes raw pixel deltas with the wrong sign,
// so the page handles wheel events itself.
EMSCRIPTEN_KEEPALIVE void ui_scroll(double dx, double dy) {
    ImGuiIO& io = ImGui::GetIO();
    io.MouseWheelH -= (float)dx;
    io.MouseWheel -= (float)dy;
    wake();
}

// The model as the compute module describes it (cl_model_json), read by field name. The view
// keeps the layers it names when the new model has them, else shows the last conv.
EMSCRIPTEN_KEEPALIVE void ui_on_model(const char* json, const char* want_layer, const char* want_cam_layer) {
    App& a = g_app;
    const cnnlens::Json m = cnnlens::Json::parse(str(json));
    a.model_ready = true;
    a.model_name = m["name"].string(), a.model_describe = m["describe"].string(), a.layout = m["layout"].string();
    a.head = m["head"].string(), a.preprocess = m["preprocess"].string(), a.resize = m["resize"].string();
    a.input_size = m["input_size"].integer(), a.num_classes = m["num_classes"].integer(), a.threads = m["threads"].integer(1);
    a.ms_load = m["ms_load"].number();
    a.last_conv = m["last_conv"].string();
    a.class_names = m["class_names"].strings("class_names");
    a.layers.clear();
    for (const cnnlens::Json& l : m["layers"].items())
        a.layers.push_back({l["name"].string(), l["kind"].string(), l["h"].integer(), l["w"].integer(), l["c"].integer()});
    a.methods.clear();
    for (const cnnlens::Json& x : m["methods"].items())
        a.methods.push_back({x["name"].string(), x["label"].string(), x["about"].string(), x["unavailable"].string(),
                             x["at_head_input_only"].boolean()});
    a.have_result = false;
    a.act.clear(), a.act_layer = -1;
    a.heats.clear(), a.strip.clear();
    a.zoom_channel = -1;
    if (a.cls >= a.num_classes) a.cls = -1;
    if (a.cls2 >= a.num_classes) a.cls2 = -1;
    auto find = [&](const std::string& n) {
        for (size_t i = 0; i < a.layers.size(); i++)
            if (a.layers[i].name == n) return (int)i;
        return -1;
    };
    const int last = find(a.last_conv);
    a.layer = find(str(want_layer));
    if (a.layer < 0) a.layer = last;
    a.cam_layer = find(str(want_cam_layer));
    if (a.cam_layer < 0 || a.layers[(size_t)a.cam_layer].kind != "conv") a.cam_layer = last;
    const AppMethod* method = app_method(a.method);
    if (!method || !method->unavailable.empty()) a.method = "gradcam";
    app_request_view();   // JS learns which layers are shown
}

// The result of a forward pass (cl_result_json): top-5, per-layer value ranges, timings.
EMSCRIPTEN_KEEPALIVE void ui_on_result(const char* json) {
    App& a = g_app;
    const cnnlens::Json r = cnnlens::Json::parse(str(json));
    a.have_result = true;
    a.top.clear(), a.lo.clear(), a.hi.clear();
    for (const cnnlens::Json& p : r["top"].items())
        a.top.push_back({p["index"].integer(), p["name"].string(), (float)p["prob"].number(), (float)p["logit"].number()});
    for (const cnnlens::Json& x : r["range"].items()) a.lo.push_back((float)x[0].number()), a.hi.push_back((float)x[1].number());
    a.image_w = r["image"]["width"].integer(), a.image_h = r["image"]["height"].integer();
    const cnnlens::Json& ms = r["ms"];
    a.ms_forward = ms["forward"].number(), a.ms_backward = ms["backward"].number(), a.ms_explain = ms["explain"].number();
    a.ms_load = ms["load"].number();
    a.atlas_dirty = true;
}
// The input as the network saw it, side x side RGB8 (copied).
EMSCRIPTEN_KEEPALIVE void ui_on_image(int side, const uint8_t* rgb, const char* name) {
    g_app.image_tex = gpu_texture_rgb(g_app.image_tex, side, side, rgb);
    g_app.image_side = side;
    if (name && *name) g_app.image_name = name;
}

// Activations of one layer, HWC float32 (copied).
EMSCRIPTEN_KEEPALIVE void ui_on_act(int layer, int h, int w, int c, const float* data) {
    App& a = g_app;
    a.act_layer = layer, a.act_h = h, a.act_w = w, a.act_c = c;
    a.act.assign(data, data + (size_t)h * w * c);
    a.atlas_dirty = true;
    if (a.zoom_channel >= c) a.zoom_channel = -1;
}

// An explanation map (raw, layer resolution; normalised here for the R8 texture): slot 0 main,
// 1 the second class, 100 + i the filmstrip's i-th conv layer. weights may be null.
EMSCRIPTEN_KEEPALIVE void ui_on_heat(int slot, const char* layer, const char* method, int cls, int h, int w,
                                     const float* map, const float* weights, int n_weights) {
    App& a = g_app;
    AppHeat* hm;
    if (slot >= 100) {
        size_t i = (size_t)(slot - 100);
        if (a.strip.size() <= i) a.strip.resize(i + 1);
        hm = &a.strip[i];
    } else {
        if (a.heats.size() <= (size_t)slot) a.heats.resize((size_t)slot + 1);
        hm = &a.heats[(size_t)slot];
    }
    hm->layer = str(layer), hm->method = str(method), hm->cls = cls, hm->h = h, hm->w = w;
    hm->map.assign(map, map + (size_t)h * w);
    if (weights) hm->weights.assign(weights, weights + n_weights);
    else hm->weights.clear();
    // min-max to [0,1] (an all-zero map stays zero), as the core's normalize01; the filmstrip
    // shares one scale over all its layers (set in ui_strip_done)
    std::vector<float> n01(hm->map.size());
    cnnlens::normalize01(hm->map.data(), hm->map.size(), n01.data());
    std::vector<uint8_t> u8(n01.size());
    for (size_t i = 0; i < u8.size(); i++) u8[i] = (uint8_t)(n01[i] * 255.0f + 0.5f);
    hm->tex = gpu_texture_r8(hm->tex, w, h, u8.data(), true);
    if (slot >= 100) a.strip_dirty = true;
}
// Keeps the textures (reused by the next maps), forgets the maps.
EMSCRIPTEN_KEEPALIVE void ui_clear_heats() {
    for (AppHeat& h : g_app.heats) gpu_texture_delete(h.tex);
    for (AppHeat& h : g_app.strip) gpu_texture_delete(h.tex);
    g_app.heats.clear();
    g_app.strip.clear();
    g_app.guided_side = 0;
}
// slot 0 guided Grad-CAM, 1 guided backprop: side x side RGB8 (copied).
EMSCRIPTEN_KEEPALIVE void ui_on_guided(int slot, int side, const uint8_t* rgb) {
    if (slot < 0 || slot > 1) return;
    g_app.guided_tex[slot] = gpu_texture_rgb(g_app.guided_tex[slot], side, side, rgb);
    g_app.guided_side = side;
}
EMSCRIPTEN_KEEPALIVE void ui_on_channel_weights(const char* layer, const float* w, int n) {
    g_app.chan_w_layer = str(layer);
    g_app.chan_w.assign(w, w + n);
    if (g_app.sort_by_weight) g_app.atlas_dirty = true;
}
EMSCRIPTEN_KEEPALIVE void ui_set_explain_timing(double ms_backward, double ms_explain) {
    g_app.ms_backward = ms_backward, g_app.ms_explain = ms_explain;
}

EMSCRIPTEN_KEEPALIVE void ui_on_progress(const char* label, double done, double total, int cancellable) {
    App& a = g_app;
    a.busy = true;
    a.progress_label = str(label), a.progress_done = done, a.progress_total = total;
    a.progress_cancellable = cancellable != 0;
}
EMSCRIPTEN_KEEPALIVE void ui_on_idle() {
    g_app.busy = false;
    g_app.progress_label.clear();
}
EMSCRIPTEN_KEEPALIVE void ui_on_error(const char* message) {
    g_app.errors.push_back(str(message));
    if (g_app.errors.size() > 5) g_app.errors.erase(g_app.errors.begin());
}
EMSCRIPTEN_KEEPALIVE void ui_on_status(const char* message) { g_app.status = str(message); }
EMSCRIPTEN_KEEPALIVE void ui_on_weights_size(double bytes, const char* error) {
    g_app.weights_size = bytes;
    g_app.weights_size_error = str(error);
}
EMSCRIPTEN_KEEPALIVE void ui_set_weights_url(const char* url) {
    std::snprintf(g_app.weights_url, sizeof g_app.weights_url, "%s", url);
}
EMSCRIPTEN_KEEPALIVE void ui_on_webcam(int on) { g_app.webcam_on = on != 0; }

// A sample image of the gallery with its thumbnail (RGBA8, copied).
EMSCRIPTEN_KEEPALIVE void ui_add_sample(const char* name, const char* url, const char* group, int w, int h,
                                        const uint8_t* rgba) {
    AppSample s;
    s.name = str(name), s.url = str(url), s.group = str(group), s.w = w, s.h = h;
    std::vector<uint8_t> rgb((size_t)w * h * 3);
    for (size_t i = 0; i < (size_t)w * h; i++)
        for (int k = 0; k < 3; k++) rgb[i * 3 + k] = rgba[i * 4 + k];
    s.thumb = gpu_texture_rgb(0, w, h, rgb.data());
    g_app.samples.push_back(s);
}

// The view state from outside (URL parameters, window.cnnlens): empty/negative = unchanged.
EMSCRIPTEN_KEEPALIVE int ui_set_view(const char* layer, const char* cam_layer, int cls, int cls2, const char* method,
                                     const char* cmap, double alpha) {
    App& a = g_app;
    int changed = 0;
    auto find_layer = [&](const char* n) {
        for (size_t i = 0; i < a.layers.size(); i++)
            if (a.layers[i].name == n) return (int)i;
        return -1;
    };
    if (layer && *layer) {
        int i = find_layer(layer);
        if (i < 0) return -1;
        a.layer = i, changed = 1;
    }
    if (cam_layer && *cam_layer) {
        int i = find_layer(cam_layer);
        if (i < 0 || a.layers[(size_t)i].kind != "conv") return -1;
        a.cam_layer = i, changed = 1;
    }
    if (cls >= -1 && cls != -2) a.cls = cls < a.num_classes ? cls : -1, changed = 1;
    if (cls2 >= -1 && cls2 != -2) a.cls2 = cls2 < a.num_classes ? cls2 : -1, changed = 1;
    if (method && *method) {
        const AppMethod* m = app_method(method);
        if (!m || !m->unavailable.empty()) return -2;
        a.method = method, changed = 1;
        if (m->head_input_only) a.cam_layer = find_layer(a.last_conv.c_str());
    }
    if (cmap && *cmap) {
        int m = -1;
        for (int i = 0; i < (int)std::size(cnnlens::kColormaps); i++)
            if (!std::strcmp(cnnlens::colormap_name(cnnlens::kColormaps[i]), cmap)) m = i;
        if (m < 0) return -3;
        a.cmap = m, changed = 1, a.atlas_dirty = true;
    }
    if (alpha >= 0 && alpha <= 1) a.alpha = (float)alpha;
    if (changed) app_request_view();
    return 0;
}

// Options of the two map panels; -1 = unchanged. guided/filmstrip: Where it looks;
// channel (zoomed, -2 = none), sort (by Grad-CAM weight), scope (0 channel, 1 layer, 2 network): Feature maps.
EMSCRIPTEN_KEEPALIVE void ui_set_options(int guided, int filmstrip, int channel, int sort, int scope, int tile) {
    App& a = g_app;
    bool view = false;
    if (guided >= 0) a.guided = guided != 0, view = true;
    if (filmstrip >= 0) a.filmstrip = filmstrip != 0, view = true;
    if (channel >= -1) a.zoom_channel = channel;
    else if (channel == -2) a.zoom_channel = -1;
    if (sort >= 0) a.sort_by_weight = sort != 0;
    if (scope >= 0 && scope <= 2) a.norm_scope = scope, a.atlas_dirty = true;
    if (tile >= 16 && tile <= 160) a.tile = tile;
    if (view) app_request_view();
}

}  // extern "C"

int main() {
    if (!glfwInit()) return 1;
    glfwWindowHint(GLFW_CLIENT_API, GLFW_OPENGL_ES_API);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 0);
    g_app.width = js_canvas_width(), g_app.height = js_canvas_height();
    g_window = glfwCreateWindow(g_app.width, g_app.height, "CNN Lens", nullptr, nullptr);
    if (!g_window) return 1;
    glfwMakeContextCurrent(g_window);
    // installed before ImGui's, which chains to them
    glfwSetCursorPosCallback(g_window, on_cursor);
    glfwSetMouseButtonCallback(g_window, on_button);
    glfwSetScrollCallback(g_window, on_scroll);
    glfwSetKeyCallback(g_window, on_key);
    glfwSetCharCallback(g_window, on_char);
    glfwSetWindowFocusCallback(g_window, on_focus);
    wake(2000);

    IMGUI_CHECKVERSION();
    ImGui::CreateContext();
    ImGuiIO& io = ImGui::GetIO();
    io.IniFilename = nullptr;                        // no file system on the web
    io.ConfigFlags |= ImGuiConfigFlags_NavEnableKeyboard;
    ImGui::StyleColorsDark();
    ImGuiStyle& st = ImGui::GetStyle();
    st.WindowRounding = 0, st.FrameRounding = 3, st.GrabRounding = 3, st.TabRounding = 3;
    st.FramePadding = ImVec2(8, 5), st.ItemSpacing = ImVec2(8, 6), st.ScrollbarSize = 16;
    ImGui_ImplGlfw_InitForOpenGL(g_window, true);
    ImGui_ImplOpenGL3_Init("#version 300 es");
    if (!gpu_init()) g_app.errors.push_back("WebGL2 shader setup failed: maps cannot be drawn");

    EM_ASM({ if (Module.cnnlensUiReady) Module.cnnlensUiReady(); });
    emscripten_set_main_loop(frame, 0, true);
    return 0;
}
