// main.cpp: the UI module of the web app (Dear ImGui 1.86 + GLFW + WebGL2 on the page's main
// thread). Frame loop in four phases (poll, update, build the panels, render) and the bridge
// to web/app.js: JS calls the ui_on_* functions below with what the compute worker produced,
// the UI asks for work with app_request() (a JSON message to JS). No network runs here.
#include <emscripten/emscripten.h>
#include <GLES3/gl3.h>
#include <GLFW/glfw3.h>

#include <cfloat>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "app.h"
#include "core/error.h"
#include "core/json.h"
#include "explain/colormap.h"
#include "gpu.h"
#include "imgui.h"
#include "imgui_impl_glfw.h"
#include "imgui_impl_opengl3.h"
#include "imgui_internal.h"
#include "strings.h"

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
double g_busy_since = 0;      // ms: when the running job (or chain of jobs) started
bool g_user_acted = false;   // input since the last frame drawn (answered at once, even while a job runs)
bool g_webcam_frame = false; // a webcam frame's results came since the last frame drawn
void wake_user() {
    g_user_acted = true;
    wake();
}

// The input, in order: mouse buttons, keys, characters, pasted text, Tab. Dear ImGui 1.86 reads
// its input once per frame, so events that come faster than frames (a weak laptop's slow frames,
// a quick tap, a test) would be lost or merged: a key pressed and released between two frames, a
// click on a tab right after the pointer jumped to it, text typed right after the click into a
// field, Ctrl+V and Enter in one frame. Here each frame takes the events up to one button or key
// change (modifiers and characters ride along), a button press only once a frame has shown the
// pointer where it was pressed: the input queue Dear ImGui 1.87 later got.
struct InputEvent {
    enum Kind { Key, Char, Button, Paste, Tab } kind;
    int code = 0;             // Key: GLFW key; Char: code point; Button: 0 left, 1 right, 2 middle
    bool down = false;        // Key, Button: pressed; Tab: forward (else Shift+Tab)
    ImVec2 pos;               // Button: where, in device pixels
    std::string text;         // Paste
};
std::deque<InputEvent> g_input;
bool g_buttons[5] = {};       // the mouse buttons as the UI has seen them
ImVec2 g_mouse(-FLT_MAX, -FLT_MAX);   // the pointer as the UI saw it last frame (logical pixels)
ImVec2 cursor_device() {
    double x, y;
    glfwGetCursorPos(g_window, &x, &y);
    return ImVec2((float)x, (float)y);
}
void on_cursor(GLFWwindow*, double, double) { wake_user(); }
void on_button(GLFWwindow*, int button, int action, int) {   // replaces imgui_impl_glfw's
    wake_user();
    if (button >= 0 && button < 5 && action != GLFW_REPEAT) {
        InputEvent e{InputEvent::Button};
        e.code = button, e.down = action == GLFW_PRESS, e.pos = cursor_device();
        g_input.push_back(e);
    }
}
void on_scroll(GLFWwindow*, double, double) { wake_user(); }
void on_key(GLFWwindow*, int key, int, int action, int) {   // replaces imgui_impl_glfw's
    wake_user();
    if (action == GLFW_REPEAT || key < 0 || key >= 512) return;
    InputEvent e{InputEvent::Key};
    e.code = key, e.down = action == GLFW_PRESS;
    g_input.push_back(e);
}
void on_char(GLFWwindow*, unsigned int c) {   // replaces imgui_impl_glfw's
    wake_user();
    InputEvent e{InputEvent::Char};
    e.code = (int)c;
    g_input.push_back(e);
}
void on_focus(GLFWwindow*, int) { wake(); }

EM_JS(int, js_canvas_width, (), { return Module.canvas.width; });
EM_JS(int, js_canvas_height, (), { return Module.canvas.height; });
// Device pixels per CSS pixel of the canvas (web/app.js sizes the canvas at devicePixelRatio).
EM_JS(double, js_pixel_ratio, (), { return Module.cnnlensPixelRatio || 1; });
EM_JS(void, js_request, (const char* json), {
    const msg = UTF8ToString(json);
    if (Module.cnnlensRequest) Module.cnnlensRequest(JSON.parse(msg));
});
EM_JS(void, js_frame, (int n), {
    Module.cnnlensFrames = n;
    if (Module.cnnlensOnFrame) Module.cnnlensOnFrame(n);   // start-up marks (web/app.js)
    // the first frame drawn in the page's language (web/app.js sets cnnlensLangApplied): timings().firstPaint
    if (Module.cnnlensFirstPaint == null && Module.cnnlensLangApplied) Module.cnnlensFirstPaint = performance.now();
});
// What Dear ImGui copies (Ctrl+C / Ctrl+X in a text field) goes to the system clipboard. In an
// iframe without the clipboard-write permission this may be refused: the page's copy event
// (ui_copy_text) has already put the selection there.
// A start-up mark (web/app.js: window.cnnlens.timings().marks).
EM_JS(void, js_mark, (const char* name), {
    if (Module.cnnlensMark) Module.cnnlensMark(UTF8ToString(name));
});
EM_JS(void, js_clipboard_write, (const char* text), {
    const t = UTF8ToString(text);
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(t).catch(() => {});
});

// ---------------------------------------------------------------------------- items
// Every item Dear ImGui adds (through its test-engine hooks, below) is recorded each frame, in
// submission order: the Tab order of the page, what cnnlens.focused() and cnnlens.item() report.
struct UiItem {
    ImGuiID id = 0;
    ImGuiWindow* window = nullptr;
    ImRect rect, clip;
    ImGuiID scope = 0;
    int layer = 0;
    ImGuiItemFlags flags = 0;
    std::string label, name;
    bool text = false;            // a text field
};
struct UiMark {                   // a named rectangle (app_mark): also images, which have no ID
    std::string name;
    ImRect rect, clip;
    ImGuiID id = 0;
};
std::vector<UiItem> g_items, g_items_prev;   // this frame's and the last complete frame's
std::vector<UiMark> g_marks, g_marks_prev;
ImGuiWindow* g_main_root = nullptr;          // the root window of the layout

float g_scale = 0;              // device pixels per logical pixel: devicePixelRatio x ui_scale
float g_font_scale = 0;         // the scale the font atlas was rasterised at

// The Chinese glyphs (ui_set_lang): the subset font web/app.js fetched (build/site/fonts/zh.ttf)
// and the characters the interface's strings use (fonts/zh.txt), from which the glyph ranges are
// built; only those glyphs go into the atlas.
std::vector<unsigned char> g_zh_ttf;
ImVector<ImWchar> g_zh_ranges;

// The default font rasterised at the device's pixel size, drawn at 13 logical pixels; in Chinese
// the CJK glyphs merged into it (a little larger: 13 px ideographs are hard to read).
void rebuild_fonts(float scale) {
    ImGuiIO& io = ImGui::GetIO();
    io.Fonts->Clear();
    ImFontConfig cfg;
    cfg.SizePixels = std::max(8.0f, std::round(13.0f * scale));
    io.Fonts->AddFontDefault(&cfg);
    if (ui_zh() && !g_zh_ttf.empty() && !g_zh_ranges.empty()) {
        ImFontConfig zh;
        zh.MergeMode = true;
        zh.FontDataOwnedByAtlas = false;   // g_zh_ttf keeps the bytes for the next rebuild
        zh.OversampleH = 1, zh.OversampleV = 1;   // rasterised at the device's pixel size already
        zh.PixelSnapH = true;
        zh.GlyphOffset = ImVec2(0, -0.5f * scale);
        io.Fonts->AddFontFromMemoryTTF(g_zh_ttf.data(), (int)g_zh_ttf.size(), std::round(14.0f * scale), &zh,
                                       g_zh_ranges.Data);
    }
    io.FontGlobalScale = 13.0f / cfg.SizePixels;
    ImGui_ImplOpenGL3_DestroyFontsTexture();
    ImGui_ImplOpenGL3_CreateFontsTexture();
    g_font_scale = scale;
}

bool is_modifier(int key) {
    return key == GLFW_KEY_LEFT_CONTROL || key == GLFW_KEY_RIGHT_CONTROL || key == GLFW_KEY_LEFT_SHIFT ||
           key == GLFW_KEY_RIGHT_SHIFT || key == GLFW_KEY_LEFT_ALT || key == GLFW_KEY_RIGHT_ALT ||
           key == GLFW_KEY_LEFT_SUPER || key == GLFW_KEY_RIGHT_SUPER;
}

void update_modifiers(ImGuiIO& io) {   // as imgui_impl_glfw's key callback
    io.KeyCtrl = io.KeysDown[GLFW_KEY_LEFT_CONTROL] || io.KeysDown[GLFW_KEY_RIGHT_CONTROL];
    io.KeyShift = io.KeysDown[GLFW_KEY_LEFT_SHIFT] || io.KeysDown[GLFW_KEY_RIGHT_SHIFT];
    io.KeyAlt = io.KeysDown[GLFW_KEY_LEFT_ALT] || io.KeysDown[GLFW_KEY_RIGHT_ALT];
    io.KeySuper = io.KeysDown[GLFW_KEY_LEFT_SUPER] || io.KeysDown[GLFW_KEY_RIGHT_SUPER];
}

bool text_editing() {
    const ImGuiContext& g = *GImGui;
    return g.ActiveId != 0 && g.InputTextState.ID == g.ActiveId;
}

const UiItem* item_by_id(const std::vector<UiItem>& items, ImGuiID id) {
    for (const UiItem& it : items)
        if (it.id == id) return &it;
    return nullptr;
}

// The keyboard focus ring: every focused item gets the same visible ring (Dear ImGui draws none
// around invisible buttons and images), clipped to its panel.
void draw_focus_ring() {
    const ImGuiContext& g = *GImGui;
    if (g.NavDisableHighlight || !g.NavId) return;
    const UiItem* it = item_by_id(g_items, g.NavId);
    if (!it) return;
    ImDrawList* dl = ImGui::GetForegroundDrawList();
    dl->PushClipRect(it->clip.Min, it->clip.Max, true);
    dl->AddRect(ImVec2(it->rect.Min.x - 3, it->rect.Min.y - 3), ImVec2(it->rect.Max.x + 3, it->rect.Max.y + 3),
                IM_COL32(255, 190, 40, 255), 4.0f, 0, 3.0f);
    dl->PopClipRect();
}

// Moves the keyboard focus to an item recorded last frame: its panel gets the focus (arrow keys
// then move within it), the item is scrolled into view, a text field starts editing.
void focus_item(const UiItem& t) {
    ImGuiContext& g = *GImGui;
    if (g.ActiveId && g.ActiveId != t.id) ImGui::ClearActiveID();
    ImGui::FocusWindow(t.window);
    ImGui::SetNavID(t.id, (ImGuiNavLayer)t.layer, t.scope, ImGui::WindowRectAbsToRel(t.window, t.rect));
    g.NavDisableHighlight = false;
    g.NavDisableMouseHover = true;
    g.NavInputSource = ImGuiInputSource_Keyboard;
    ImGui::ScrollToRectEx(t.window, t.rect, ImGuiScrollFlags_KeepVisibleEdgeY);
    if (t.text) {
        g.NavNextActivateId = t.id;
        g.NavNextActivateFlags = ImGuiActivateFlags_PreferInput | ImGuiActivateFlags_TryToPreserveState;
    }
}

// A rectangle in CSS pixels of the page, as JSON fields.
void rect_json(cnnlens::JsonWriter& j, const ImRect& r) {
    const float s = g_app.ui_scale;
    j.field("x", (double)(r.Min.x * s)).field("y", (double)(r.Min.y * s)).field("w", (double)(r.GetWidth() * s))
        .field("h", (double)(r.GetHeight() * s));
}

// The keyboard focus moves to the next widget in reading order, across panels (Dear ImGui 1.86's
// own Tab only cycles the text fields of one panel); in an open popup (a menu) it cycles the
// popup. leave: past the first or last widget, let the focus go (0) instead of wrapping around.
int tab_move(int dir, bool leave) {
    ImGuiContext& g = *GImGui;
    ImGuiWindow* root = g.NavWindow && (g.NavWindow->RootWindow->Flags & ImGuiWindowFlags_Popup) ? g.NavWindow->RootWindow
                                                                                                   : g_main_root;
    // the items of that root in order; Tab stops at those without NoTabStop (the first image of a
    // gallery group, the first feature map), the arrow keys reach the others
    std::vector<const UiItem*> list;
    for (const UiItem& it : g_items_prev)
        if (it.window->RootWindow == root && !(it.flags & (ImGuiItemFlags_Disabled | ImGuiItemFlags_NoNav)))
            list.push_back(&it);
    auto stop = [&](int i) { return !(list[(size_t)i]->flags & ImGuiItemFlags_NoTabStop); };
    int at = -1;
    if (g.NavId && !(g.NavDisableHighlight && dir == 0))
        for (size_t i = 0; i < list.size(); i++)
            if (list[i]->id == g.NavId) at = (int)i;
    const int n = (int)list.size();
    int next = -1;
    if (dir == 0 || at < 0) {   // from outside: the first (Shift+Tab: the last) stop
        for (int k = 0; k < n && next < 0; k++)
            if (stop(dir >= 0 ? k : n - 1 - k)) next = dir >= 0 ? k : n - 1 - k;
    } else {
        for (int i = at + dir; i >= 0 && i < n && next < 0; i += dir)
            if (stop(i)) next = i;
        if (next < 0) {   // past the last (first) stop
            if (leave) {
                if (text_editing()) ImGui::ClearActiveID();
                g.NavDisableHighlight = true;
                return 0;
            }
            for (int k = 0; k < n && next < 0; k++)
                if (stop(dir > 0 ? k : n - 1 - k)) next = dir > 0 ? k : n - 1 - k;
        }
    }
    if (next < 0) return 0;
    focus_item(*list[(size_t)next]);
    return 1;
}


void frame() {
    // 1. poll: web/app.js sizes the canvas (device pixels); the UI is laid out in logical pixels
    const int w = js_canvas_width(), h = js_canvas_height();
    const float scale = (float)js_pixel_ratio() * g_app.ui_scale;
    if (w != g_app.width || h != g_app.height || scale != g_scale) {
        g_app.width = w, g_app.height = h, g_scale = scale;
        wake();
    }
    glfwPollEvents();
    ImGuiIO& io = ImGui::GetIO();
    bool timed_message = false;   // an info message disappears by itself
    for (const AppMessage& m : g_app.messages) timed_message |= m.until > 0;
    // a job with a known length redraws when its progress comes; one without animates its bar
    const bool animate = g_app.busy && g_app.progress_total <= 0;
    if (animate || g_app.webcam_on || io.WantTextInput || timed_message) wake(300);
    const double now = emscripten_get_now();
    if (now > g_awake_until) return;
    // while a job runs, 2 frames a second unless the user acts, and none in its first second (a
    // job that short needs no progress bar; a chain of short jobs still gets a frame every 2 s;
    // the webcam's chain keeps its 2 a second, and draws each frame's results as they come: its
    // next frame is already waiting in the worker): without a GPU the browser draws on the CPU
    // (SwiftShader, on every core), and every frame drawn takes from the cores the job runs on
    // (a frame at a VGG16 forward's start cost the threaded page 1.4x its time)
    static double last_drawn = 0;
    const bool starting = !g_app.webcam_on && now - g_busy_since < 1000 && now - last_drawn < 2000;
    if (g_app.busy && !g_user_acted && !g_webcam_frame && last_drawn > 0 && (now - last_drawn < 500 || starting))
        return;
    last_drawn = now, g_user_acted = false, g_webcam_frame = false;

    // 2. update
    gpu_new_frame();
    ImGui_ImplOpenGL3_NewFrame();
    if (g_scale != g_font_scale) {
        rebuild_fonts(g_scale);
        js_mark("fonts");
    }
    ImGui_ImplGlfw_NewFrame();
    io.DisplaySize = ImVec2((float)w / g_scale, (float)h / g_scale);
    io.DisplayFramebufferScale = ImVec2(g_scale, g_scale);
    // the input events of the queue up to one button or key change (see g_input); emscripten's
    // GLFW reports the pointer in canvas (device) pixels
    bool paste = false;
    while (!g_input.empty()) {
        InputEvent& e = g_input.front();
        if (e.kind == InputEvent::Button) {
            const ImVec2 at(e.pos.x / scale, e.pos.y / scale);
            if (e.down && (at.x != g_mouse.x || at.y != g_mouse.y)) {   // first a frame with the pointer there
                g_mouse = at;
                break;
            }
            g_mouse = at;
            g_buttons[e.code] = e.down;
            g_input.pop_front();
            break;
        }
        if (e.kind == InputEvent::Char) {
            io.AddInputCharacter((unsigned)e.code);
            g_input.pop_front();
            continue;
        }
        if (e.kind == InputEvent::Paste) {   // into the field being edited; else the page takes it (a link)
            if (text_editing()) io.AddInputCharactersUTF8(e.text.c_str()), paste = true;
            else app_request("{\"op\":\"pastedText\",\"text\":" + cnnlens::json_quote(e.text) + "}");
            g_input.pop_front();
            break;
        }
        if (e.kind == InputEvent::Tab) {
            const bool forward = e.down;
            g_input.pop_front();
            tab_move(forward ? 1 : -1, false);
            break;
        }
        const InputEvent k = e;   // a key
        g_input.pop_front();
        if (io.KeysDown[k.code] == k.down) continue;
        io.KeysDown[k.code] = k.down;
        if (!is_modifier(k.code)) break;
    }
    if (g_input.empty()) {   // nothing waiting: the pointer is where it is now
        const ImVec2 d = cursor_device();
        if (d.x > -FLT_MAX / 2) g_mouse = ImVec2(d.x / scale, d.y / scale);
    } else {
        wake();
    }
    io.MousePos = g_mouse;
    for (int b = 0; b < 5; b++) io.MouseDown[b] = g_buttons[b];
    update_modifiers(io);
    if (paste) io.KeyCtrl = io.KeySuper = false;   // the text field takes characters only without them
    // Enter activates the focused widget, as Space does (Dear ImGui 1.86 maps Enter to "input"
    // only); not while a text field is being edited, which takes Enter itself
    static bool enter_was = false, enter_activates = false;
    const bool enter = io.KeysDown[GLFW_KEY_ENTER] || io.KeysDown[GLFW_KEY_KP_ENTER];
    if (enter && !enter_was) enter_activates = !text_editing();
    if (!enter) enter_activates = false;
    enter_was = enter;
    if (enter_activates) io.NavInputs[ImGuiNavInput_Activate] = 1.0f;

    // 3. build the panels
    g_items.clear();
    g_marks.clear();
    ImGui::NewFrame();
    app_draw();
    g_main_root = ImGui::FindWindowByName("CNN Lens");
    draw_focus_ring();
    ImGui::Render();

    // 4. render
    glViewport(0, 0, w, h);
    glClearColor(0.09f, 0.10f, 0.12f, 1.0f);
    glClear(GL_COLOR_BUFFER_BIT);
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    glfwSwapBuffers(g_window);
    js_frame(++g_app.frame);
    g_items_prev.swap(g_items);
    g_marks_prev.swap(g_marks);
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

// The marked object to the page (and the compute worker): {"op": "mask", "side", "data": "0110..."}.
void app_send_mask() {
    AppTools& t = g_app.tools_tab;
    t.mask_dirty = true;
    std::string bits(t.mask.size(), '0');
    for (size_t i = 0; i < t.mask.size(); i++) bits[i] = t.mask[i] ? '1' : '0';
    app_request(cnnlens::strformat("{\"op\":\"mask\",\"side\":%d,\"data\":\"", t.mask.empty() ? 0 : t.mask_side) + bits + "\"}");
}

// Forgets the tools' results (a new image, a new model): they were for what was shown before.
void clear_tool_results() {
    AppTools& t = g_app.tools_tab;
    t.occ.prob.clear(), t.occ.logit.clear(), t.occ.ny = t.occ.nx = 0;
    t.curves.clear(), t.random = AppTools::Curve();
    for (AppTools::SanityCell& c : t.sanity) gpu_texture_delete(c.tex);
    t.sanity.clear(), t.survivors.clear();
    t.pointing.clear(), t.default_mask.clear();
    t.mask_dirty = true;
}

const AppMethod* app_method(const std::string& name) {
    for (const AppMethod& m : g_app.methods)
        if (m.name == name) return &m;
    return nullptr;
}

// A message in the toast area; the same text again replaces the older one.
void app_message(const std::string& kind, const std::string& text, bool error) {
    std::vector<AppMessage>& ms = g_app.messages;
    for (size_t i = 0; i < ms.size(); i++)
        if (ms[i].text == text) ms.erase(ms.begin() + (long)i--);
    ms.push_back({kind, text, error, error ? 0.0 : emscripten_get_now() + 8000});
    if (ms.size() > 4) ms.erase(ms.begin());
    wake();
}

void app_mark(const std::string& name) {
    const ImGuiContext& g = *GImGui;
    const ImGuiWindow* w = g.CurrentWindow;
    g_marks.push_back({name, g.LastItemData.Rect, w ? w->ClipRect : ImRect(), g.LastItemData.ID});
    if (g.LastItemData.ID && !g_items.empty() && g_items.back().id == g.LastItemData.ID) g_items.back().name = name;
}

void app_mark_text_field() {
    const ImGuiContext& g = *GImGui;
    if (!g_items.empty() && g_items.back().id == g.LastItemData.ID) g_items.back().text = true;
}

// ---------------------------------------------------------------------------- Dear ImGui's item hooks
// Compiled with IMGUI_ENABLE_TEST_ENGINE (src/app/CMakeLists.txt): Dear ImGui calls these for
// every item it adds; they record the items (g_items) and their labels.
void ImGuiTestEngineHook_ItemAdd(ImGuiContext* ctx, const ImRect& bb, ImGuiID id) {
    if (ctx->LastItemData.ID != id) return;   // parts of a widget (scrollbars) that are not items
    ImGuiWindow* w = ctx->CurrentWindow;
    for (ImGuiWindow* c : ctx->Windows)
        if (c->ChildId == id && c->ParentWindow == w) return;   // a child window, as an item of its parent
    UiItem it;
    it.id = id, it.window = w, it.rect = bb, it.clip = w->ClipRect;
    it.scope = w->DC.NavFocusScopeIdCurrent, it.layer = w->DC.NavLayerCurrent;
    it.flags = ctx->LastItemData.InFlags;
    g_items.push_back(std::move(it));
}
void ImGuiTestEngineHook_ItemInfo(ImGuiContext*, ImGuiID id, const char* label, ImGuiItemStatusFlags) {
    if (g_items.empty() || g_items.back().id != id || !label) return;
    const char* end = std::strstr(label, "##");
    g_items.back().label.assign(label, end ? (size_t)(end - label) : std::strlen(label));
}
void ImGuiTestEngineHook_Log(ImGuiContext*, const char*, ...) {}
const char* ImGuiTestEngine_FindItemDebugLabel(ImGuiContext*, ImGuiID) { return nullptr; }

// ---------------------------------------------------------------------------- called by web/app.js
extern "C" {

// A second of frames: cnnlens.redraw(), a message, the canvas resized, the language switched.
EMSCRIPTEN_KEEPALIVE void ui_wake() { wake(); }
// News from web/app.js after each ui_* call (a result, a map, a tool's answer): a few frames draw it. Not the second of
// frames input gets: headless or without a GPU that second cost more than a core (SwiftShader).
EMSCRIPTEN_KEEPALIVE void ui_news() { wake(200); }

// Whether a wheel turn (in notches, positive dy = scroll down) would scroll something in the UI:
// the panel under the pointer (or the one Dear ImGui scrolls instead: the same walk up the
// parents as its UpdateMouseWheel) can move further that way. If not, web/app.js lets the
// browser scroll the page (an embedding blog).
EMSCRIPTEN_KEEPALIVE int ui_wheel_scrolls(double dx, double dy) {
    const ImGuiContext& g = *GImGui;
    const ImGuiIO& io = g.IO;
    // the window under the pointer where it is now (the last frame may be older than its last
    // move): the front-most one whose rectangle holds it, as Dear ImGui's FindHoveredWindow
    const ImVec2 at = cursor_device();
    const ImVec2 p(at.x / g_scale, at.y / g_scale);
    ImGuiWindow* w = nullptr;
    for (int i = g.Windows.Size - 1; i >= 0 && !w; i--) {
        ImGuiWindow* c = g.Windows[i];
        if (c->Active && !c->Hidden && !(c->Flags & ImGuiWindowFlags_NoMouseInputs) && c->OuterRectClipped.Contains(p)) w = c;
    }
    const ImVec2 moved(p.x - g.WheelingWindowRefMousePos.x, p.y - g.WheelingWindowRefMousePos.y);
    const bool same_gesture = g.WheelingWindow && ImLengthSqr(moved) <= io.MouseDragThreshold * io.MouseDragThreshold;
    if (same_gesture) w = g.WheelingWindow;   // Dear ImGui keeps a wheel gesture on its window
    if (!w || w->Collapsed || io.KeyCtrl) return 0;
    if ((g.ActiveId != 0 && g.ActiveIdUsingMouseWheel) || (g.HoveredIdPreviousFrame != 0 && g.HoveredIdPreviousFrameUsingMouseWheel))
        return 1;
    const bool vertical = std::fabs(dy) >= std::fabs(dx) && !io.KeyShift;
    const double d = vertical ? (std::fabs(dy) >= std::fabs(dx) ? dy : dx) : (dx != 0 ? dx : dy);
    if (d == 0) return 0;
    const int axis = vertical ? 1 : 0;
    while ((w->Flags & ImGuiWindowFlags_ChildWindow) &&
           (w->ScrollMax[axis] == 0.0f ||
            ((w->Flags & ImGuiWindowFlags_NoScrollWithMouse) && !(w->Flags & ImGuiWindowFlags_NoMouseInputs))))
        w = w->ParentWindow;
    if ((w->Flags & (ImGuiWindowFlags_NoScrollWithMouse | ImGuiWindowFlags_NoMouseInputs)) || w->ScrollMax[axis] <= 0) return 0;
    // where it will be once the notches not yet drawn are applied
    const float step = std::floor(std::min(5 * w->CalcFontSize(), (axis ? w->InnerRect.GetHeight() : w->InnerRect.GetWidth()) * 0.67f));
    const float pending = axis ? io.MouseWheel : io.MouseWheelH;
    const float pos = w->Scroll[axis] - pending * step;
    return d > 0 ? pos < w->ScrollMax[axis] - 0.5f : pos > 0.5f;
}

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
    a.dataset = m["dataset"].string(), a.knows = m["knows"].string();
    a.head = m["head"].string(), a.preprocess = m["preprocess"].string(), a.resize = m["resize"].string();
    a.input_size = m["input_size"].integer(), a.num_classes = m["num_classes"].integer(), a.threads = m["threads"].integer(1);
    a.ms_load = m["ms_load"].number();
    a.lean = m["lean"].boolean();
    a.last_conv = m["last_conv"].string();
    a.class_names = m["class_names"].strings("class_names");
    a.layers.clear();
    for (const cnnlens::Json& l : m["layers"].items())
        a.layers.push_back({l["name"].string(), l["kind"].string(), l["h"].integer(), l["w"].integer(), l["c"].integer()});
    a.methods.clear();
    for (const cnnlens::Json& x : m["methods"].items())
        a.methods.push_back({x["name"].string(), x["label"].string(), x["about"].string(), x["unavailable"].string(),
                             x["at_head_input_only"].boolean(), x["in_menu"].boolean(true), x["costly"].boolean()});
    a.tools.clear();
    for (const cnnlens::Json& x : m["tools"].items()) a.tools.push_back({x["name"].string(), x["label"].string(), x["about"].string()});
    a.occ_patch = m["occlusion"]["patch"].integer(), a.occ_stride = m["occlusion"]["stride"].integer();
    for (int k = 0; k < 3; k++) a.blank_rgb[k] = (uint8_t)m["blank_rgb"][k].integer();
    a.tools_tab.patch = a.occ_patch, a.tools_tab.stride = a.occ_stride;   // this input size's defaults
    clear_tool_results();
    a.have_result = false;
    a.act.clear(), a.act_layer = -1;
    a.heats.clear(), a.strip.clear();
    a.explain_error.clear();
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
    a.edits = r["edits"].integer();
    a.atlas_dirty = true;
    clear_tool_results();   // they were for the image before
}
// The classroom controls' state (web/app.js pushClassroom): {models: [{key, label}], current,
// marker (classes the stamp offers), stamped, compare}.
EMSCRIPTEN_KEEPALIVE void ui_set_classroom(const char* json) {
    AppClassroom& c = g_app.classroom;
    const cnnlens::Json j = cnnlens::Json::parse(str(json));
    c.models.clear();
    for (const cnnlens::Json& m : j["models"].items()) c.models.push_back({m["key"].string(), m["label"].string()});
    c.current = j["current"].string();
    c.marker_classes = j["marker"].integer(0);
    c.stamped = j["stamped"].integer(-1);
    const bool was = c.compare;
    c.compare = j["compare"].boolean();
    if (c.compare && !was) g_app.tools_tab.open = "compare";   // side by side turned on: its section opens
}
// Side by side: rows [{key, label, top, figure: {width, height, label, class, cls, layer}, offset}],
// each figure's RGB at rgb + offset (copied); "[]" clears them.
EMSCRIPTEN_KEEPALIVE void ui_on_compare(const char* json, const uint8_t* rgb) {
    AppClassroom& c = g_app.classroom;
    const cnnlens::Json j = cnnlens::Json::parse(str(json));
    const size_t n = j.size();
    for (size_t i = n; i < c.rows.size(); i++) gpu_texture_delete(c.rows[i].tex);
    c.rows.resize(n);
    for (size_t i = 0; i < n; i++) {
        const cnnlens::Json& r = j[i];
        AppClassroom::Row& row = c.rows[i];
        row.key = r["key"].string(), row.label = r["label"].string();
        row.top.clear();
        for (const cnnlens::Json& p : r["top"].items())
            row.top.push_back({p["index"].integer(), p["name"].string(), (float)p["prob"].number(), (float)p["logit"].number()});
        const cnnlens::Json& f = r["figure"];
        row.w = f["width"].integer(), row.h = f["height"].integer();
        row.method = f["label"].string(), row.cls_name = f["class"].string(), row.layer = f["layer"].string();
        if (rgb && row.w > 0 && row.h > 0)
            row.tex = gpu_texture_rgb(row.tex, row.w, row.h, rgb + (size_t)r["offset"].number());
    }
}
// The input as the network saw it, side x side RGB8 (copied).
EMSCRIPTEN_KEEPALIVE void ui_on_image(int side, const uint8_t* rgb, const char* name) {
    g_app.image_tex = gpu_texture_rgb(g_app.image_tex, side, side, rgb);
    if (side != g_app.image_side) g_app.brush = 0;   // the default for the new size (panels.cpp)
    g_app.image_side = side;
    g_app.image_rgb.assign(rgb, rgb + (size_t)side * side * 3);
    g_app.tools_tab.mask_dirty = true;
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
    // min-max to [0,1] (an all-zero map stays zero), as the core's normalize01; the filmstrip's
    // scales are set by panels.cpp (each map's own, or one shared)
    std::vector<float> n01(hm->map.size());
    cnnlens::normalize01(hm->map.data(), hm->map.size(), n01.data());
    std::vector<uint8_t> u8(n01.size());
    for (size_t i = 0; i < u8.size(); i++) u8[i] = (uint8_t)(n01[i] * 255.0f + 0.5f);
    hm->tex = gpu_texture_r8(hm->tex, w, h, u8.data(), true);
    if (slot >= 100) a.strip_dirty = true;
    if (slot == 0) a.explain_error.clear();
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

// A running job's progress: its label (already in the page's language), done of total (steps: a
// computation's positions or channels, else bytes), whether Cancel can stop it.
EMSCRIPTEN_KEEPALIVE void ui_on_progress(const char* label, double done, double total, int cancellable, int steps) {
    App& a = g_app;
    if (!a.busy) g_busy_since = emscripten_get_now();
    a.busy = true;
    a.progress_label = str(label), a.progress_done = done, a.progress_total = total;
    a.progress_cancellable = cancellable != 0, a.progress_steps = steps != 0;
}
EMSCRIPTEN_KEEPALIVE void ui_on_idle() {
    g_app.busy = false;
    g_app.progress_label.clear();
    g_app.tools_tab.running.clear();
}

// A tool is being computed (from web/app.js: the Tools tab or window.cnnlens.tool): its section opens.
EMSCRIPTEN_KEEPALIVE void ui_on_tool_start(const char* name) {
    g_app.tools_tab.running = g_app.tools_tab.open = str(name);
}

// A tool's result (cl_tool's JSON; faithfulness: the curves of every method asked for) and its
// maps: occlusion the probability then the logit drops [ny][nx]; sanity every step's map of every
// method, in the order of the rows; pointing the object mask used (0/1).
EMSCRIPTEN_KEEPALIVE void ui_on_tool(const char* json, const float* maps, int n) {
    AppTools& t = g_app.tools_tab;
    const cnnlens::Json r = cnnlens::Json::parse(str(json));
    const std::string tool = r["tool"].string();
    t.running.clear();
    t.open = tool;
    if (tool == "occlusion") {
        auto& o = t.occ;
        o.ny = r["ny"].integer(), o.nx = r["nx"].integer(), o.patch = r["patch"].integer(), o.stride = r["stride"].integer();
        o.cls = r["cls"].integer(), o.ms = r["ms"].number();
        const size_t k = (size_t)o.ny * o.nx;
        if (n < (int)(2 * k)) return;
        o.prob.assign(maps, maps + k), o.logit.assign(maps + k, maps + 2 * k);
        o.dirty = true;
        t.patch = o.patch, t.stride = o.stride;
    } else if (tool == "faithfulness") {
        auto curve = [](const cnnlens::Json& c) {
            AppTools::Curve out;
            out.method = c["method"].string(), out.layer = c["layer"].string();
            out.deletion_auc = c["deletion_auc"].number(), out.insertion_auc = c["insertion_auc"].number();
            for (auto [key, v] : {std::pair<const char*, std::vector<float>*>{"fraction", &out.fraction},
                                  {"deletion", &out.deletion}, {"insertion", &out.insertion}})
                for (const cnnlens::Json& x : c[key].items()) v->push_back((float)x.number());
            return out;
        };
        t.curves.clear();
        t.ticked.clear();
        for (const cnnlens::Json& c : r["curves"].items()) t.curves.push_back(curve(c)), t.ticked.push_back(c["method"].string());
        t.random = r["random"].is_null() ? AppTools::Curve() : curve(r["random"]);
        t.random.method = "random";
        t.faith_cls = r["cls"].integer(), t.faith_ms = r["ms"].number(), t.steps = r["steps"].integer(t.steps);
    } else if (tool == "sanity") {
        for (AppTools::SanityCell& c : t.sanity) gpu_texture_delete(c.tex);
        t.sanity.clear();
        size_t off = 0;
        for (const cnnlens::Json& row : r["rows"].items()) {
            AppTools::SanityCell c;
            c.step = row["step"].integer(), c.randomised_to = row["randomised_to"].string(), c.method = row["method"].string();
            c.spearman = row["spearman"].number();
            const int h = row["h"].integer(), w = row["w"].integer();
            if (off + (size_t)h * w > (size_t)n) break;
            std::vector<float> n01((size_t)h * w);   // each map on its own scale
            cnnlens::normalize01(maps + off, n01.size(), n01.data());
            std::vector<uint8_t> u8(n01.size());
            for (size_t i = 0; i < u8.size(); i++) u8[i] = (uint8_t)(n01[i] * 255.0f + 0.5f);
            c.tex = gpu_texture_r8(0, w, h, u8.data(), true);
            off += (size_t)h * w;
            t.sanity.push_back(c);
        }
        t.survivors = r["survivors"].strings("survivors");
        t.sanity_cls = r["cls"].integer(), t.sanity_ms = r["ms"].number();
        const int li = g_app.cam_layer;
        t.sanity_layer = li >= 0 && li < (int)g_app.layers.size() ? g_app.layers[(size_t)li].name : "";
    } else if (tool == "pointing") {
        t.pointing.clear();
        for (const cnnlens::Json& row : r["rows"].items())
            t.pointing.push_back({row["method"].string(), row["label"].string(), row["layer"].string(),
                                  row["energy_inside"].number(), row["max_inside"].boolean()});
        t.object_share = r["object_share"].number(), t.pointing_cls = r["cls"].integer();
        t.pointing_user_mask = r["user_mask"].boolean();
        const int side = r["mask_side"].integer();
        t.default_mask.clear();
        if (!t.pointing_user_mask && n >= side * side)
            for (int i = 0; i < side * side; i++) t.default_mask.push_back(maps[i] != 0);
        t.mask_dirty = true;
    }
}

// The object for the pointing game, marked in the Tools tab or through cnnlens.setMask: a box
// (input pixels), a whole mask (side x side bytes, 1 = object), or none (the model's default;
// notify 0: the page already knows, a new image came).
EMSCRIPTEN_KEEPALIVE void ui_mask_box(double x0, double y0, double x1, double y1) {
    App& a = g_app;
    const int S = a.image_side;
    if (S <= 0) return;
    AppTools& t = a.tools_tab;
    t.mask.assign((size_t)S * S, 0), t.mask_side = S;
    for (int y = std::max(0, (int)std::floor(std::min(y0, y1))); y < std::min(S, (int)std::ceil(std::max(y0, y1))); y++)
        for (int x = std::max(0, (int)std::floor(std::min(x0, x1))); x < std::min(S, (int)std::ceil(std::max(x0, x1))); x++)
            t.mask[(size_t)y * S + x] = 1;
    app_send_mask();
}
EMSCRIPTEN_KEEPALIVE void ui_set_mask(int side, const uint8_t* data) {
    AppTools& t = g_app.tools_tab;
    t.mask.assign(data, data + (size_t)side * side), t.mask_side = side;
    app_send_mask();
}
EMSCRIPTEN_KEEPALIVE void ui_mask_clear(int notify) {
    AppTools& t = g_app.tools_tab;
    t.mask.clear(), t.mask_side = 0, t.mask_dirty = true;
    if (notify) app_send_mask();
}
// A message for the toast area; kind says what caused it (ui_clear_messages removes them when
// that kind of action succeeds later).
EMSCRIPTEN_KEEPALIVE void ui_on_error(const char* kind, const char* message) { app_message(str(kind), T(str(message))); }
EMSCRIPTEN_KEEPALIVE void ui_on_status(const char* message) { app_message("status", str(message), false); }
EMSCRIPTEN_KEEPALIVE void ui_clear_messages(const char* kind) {
    std::vector<AppMessage>& ms = g_app.messages;
    for (size_t i = 0; i < ms.size(); i++)
        if (ms[i].kind == str(kind)) ms.erase(ms.begin() + (long)i--);
}
// The toast area's messages: [{kind, text, error}].
EMSCRIPTEN_KEEPALIVE const char* ui_messages() {
    static std::string out;
    cnnlens::JsonWriter j;
    j.begin_array();
    for (const AppMessage& m : g_app.messages)
        j.begin_object().field("kind", m.kind).field("text", m.text).field("error", m.error).end_object();
    out = j.end_array().str();
    return out.c_str();
}
// Why the current explanation could not be computed: shown instead of a stale picture.
EMSCRIPTEN_KEEPALIVE void ui_on_explain_error(const char* message) {
    for (AppHeat& h : g_app.heats) gpu_texture_delete(h.tex);
    g_app.heats.clear();
    g_app.explain_error = str(message);
}
EMSCRIPTEN_KEEPALIVE void ui_on_weights_size(double bytes, const char* error) {
    g_app.weights_size = bytes;
    g_app.weights_size_error = str(error);
}
EMSCRIPTEN_KEEPALIVE void ui_set_weights_url(const char* url) {
    std::snprintf(g_app.weights_url, sizeof g_app.weights_url, "%s", url);
}
// The URL behind the "Load VGG16" buttons (the vgg16= URL parameter).
EMSCRIPTEN_KEEPALIVE void ui_set_vgg16_url(const char* url) {
    g_app.vgg16_url = str(url);
    std::snprintf(g_app.weights_url, sizeof g_app.weights_url, "%s", url);
}
// The UI scale (projectors: 1.5, 2), on top of the device pixel ratio; the layout is unchanged
// in logical pixels. embed: the compact layout for an iframe.
EMSCRIPTEN_KEEPALIVE void ui_set_scale(double s) {
    if (s >= 0.5 && s <= 4) g_app.ui_scale = (float)s;
    wake();
}
EMSCRIPTEN_KEEPALIVE double ui_get_scale() { return g_app.ui_scale; }
// The language ("en" or "zh"); for zh the subset font's bytes (copied) and the characters to take
// from it (UTF-8), unless an earlier call gave them. The atlas is rebuilt on the next frame.
EMSCRIPTEN_KEEPALIVE void ui_set_lang(const char* lang, const uint8_t* ttf, int n, const char* chars) {
    set_ui_lang(str(lang) == "zh" ? "zh" : "en");
    if (ttf && n > 0) {
        g_zh_ttf.assign(ttf, ttf + n);
        ImFontGlyphRangesBuilder b;
        b.AddText(chars ? chars : "");
        g_zh_ranges.clear();
        b.BuildRanges(&g_zh_ranges);
    }
    g_font_scale = 0;
    wake();
}
EMSCRIPTEN_KEEPALIVE const char* ui_get_lang() { return ui_lang().c_str(); }
// The string table (strings.cpp) for the words web/app.js builds (messages, progress, the screen
// readers' summary, the figure's caption): en in lang ("zh" or "en"), en itself without a row.
// The pointer is the table's (static) or en's own, read by the caller before it frees en.
EMSCRIPTEN_KEEPALIVE const char* ui_tr(const char* en, const char* lang) { return T_in(en ? en : "", str(lang) == "zh"); }
// The font atlas: its texture size and how many glyphs it holds (the Chinese subset's cost).
EMSCRIPTEN_KEEPALIVE const char* ui_font_atlas() {
    static std::string out;
    ImFontAtlas* f = ImGui::GetIO().Fonts;
    const int glyphs = f->Fonts.empty() ? 0 : f->Fonts[0]->Glyphs.Size;
    out = cnnlens::strformat("{\"width\":%d,\"height\":%d,\"glyphs\":%d}", f->TexWidth, f->TexHeight, glyphs);
    return out.c_str();
}
// The guided lesson (web/lesson.js, driven by web/app.js): step (1-based) of n, its texts in the
// page's language; n = 0 closes it.
EMSCRIPTEN_KEEPALIVE void ui_set_lesson(int step, int n, const char* title, const char* text, const char* try_it) {
    g_app.lesson_step = step, g_app.lesson_steps = n;
    g_app.lesson_title = str(title), g_app.lesson_text = str(text), g_app.lesson_try = str(try_it);
    wake();
}
EMSCRIPTEN_KEEPALIVE void ui_set_embed(int on) { g_app.embed = on != 0; }
EMSCRIPTEN_KEEPALIVE void ui_on_webcam(int on) { g_app.webcam_on = on != 0; }
// A webcam frame's results are all in (its job is done): drawn at once, busy or not.
EMSCRIPTEN_KEEPALIVE void ui_on_webcam_frame() {
    g_webcam_frame = true;
    wake(200);
}

// A sample image of the gallery with its thumbnail (RGBA8, copied).
EMSCRIPTEN_KEEPALIVE void ui_add_sample(const char* name, const char* url, const char* group, const char* dataset,
                                        int w, int h, const uint8_t* rgba) {
    AppSample s;
    s.name = str(name), s.url = str(url), s.group = str(group), s.dataset = str(dataset), s.w = w, s.h = h;
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
        if (!m || !m->in_menu || !m->unavailable.empty()) return -2;
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

// Options of the two map panels; -1 = unchanged. guided/filmstrip/shared_scale (the filmstrip's): Where it looks;
// channel (zoomed, -2 = none), sort (by Grad-CAM weight), scope (0 channel, 1 layer, 2 network): Feature maps.
EMSCRIPTEN_KEEPALIVE void ui_set_options(int guided, int filmstrip, int channel, int sort, int scope, int tile,
                                         int shared_scale) {
    App& a = g_app;
    bool view = false;
    if (shared_scale >= 0) a.strip_shared = shared_scale != 0, a.strip_dirty = true;
    if (guided >= 0) a.guided = guided != 0, view = true;
    if (filmstrip >= 0) a.filmstrip = filmstrip != 0, view = true;
    if (channel >= -1) a.zoom_channel = channel;
    else if (channel == -2) a.zoom_channel = -1;
    if (sort >= 0) a.sort_by_weight = sort != 0;
    if (scope >= 0 && scope <= 2) a.norm_scope = scope, a.atlas_dirty = true;
    if (tile >= 16 && tile <= 160) a.tile = tile;
    if (view) app_request_view();
}

// Tab (dir 1) / Shift+Tab (dir -1) / the first widget (dir 0), from web/app.js (which keeps Tab
// from the browser). Returns 0 when an embedded page's focus leaves its first or last widget: the
// browser then moves the focus on, out of the frame (no keyboard trap). Keys still queued go first.
EMSCRIPTEN_KEEPALIVE int ui_tab(int dir) {
    wake();
    if (!g_input.empty() && dir != 0) {
        InputEvent e{InputEvent::Tab};
        e.down = dir > 0;
        g_input.push_back(e);
        return 1;
    }
    return tab_move(dir, g_app.embed);
}
// Input events not yet given to Dear ImGui (g_input).
EMSCRIPTEN_KEEPALIVE int ui_pending_input() { return (int)g_input.size(); }

// What has the keyboard focus (null when no focus is shown): {label, x, y, w, h, editing}, in
// CSS pixels. label: the item's name (app_mark) or its visible label.
EMSCRIPTEN_KEEPALIVE const char* ui_focused() {
    static std::string out;
    const ImGuiContext& g = *GImGui;
    const UiItem* it = nullptr;
    if (text_editing()) it = item_by_id(g_items_prev, g.ActiveId);
    else if (!g.NavDisableHighlight && g.NavId) it = item_by_id(g_items_prev, g.NavId);
    if (!it) return "null";
    cnnlens::JsonWriter j;
    j.begin_object().field("label", it->name.empty() ? it->label : it->name);
    rect_json(j, it->rect);
    out = j.field("editing", text_editing()).end_object().str();
    return out.c_str();
}

// A named item of the last frame (app_mark): {x, y, w, h, visible} in CSS pixels, or null.
// visible: entirely inside its panel and the window (not scrolled away).
EMSCRIPTEN_KEEPALIVE const char* ui_item(const char* name) {
    static std::string out;
    for (const UiMark& m : g_marks_prev) {
        if (m.name != str(name)) continue;
        const ImVec2 d = ImGui::GetIO().DisplaySize;
        const bool visible = m.clip.Contains(m.rect) && m.rect.Min.x >= 0 && m.rect.Min.y >= 0 && m.rect.Max.x <= d.x + 0.5f &&
                             m.rect.Max.y <= d.y + 0.5f;
        cnnlens::JsonWriter j;
        j.begin_object();
        rect_json(j, m.rect);
        out = j.field("visible", visible).end_object().str();
        return out.c_str();
    }
    return "null";
}

// Clipboard, through the page's paste/copy/cut events (emscripten's GLFW has no clipboard).
// Paste (Ctrl+V, Cmd+V, the browser's menu): the text is typed into the field being edited, in
// its place among the input (after the click into the field, after a Ctrl+A). Returns 0 when no
// field is being edited and no input waits; with input waiting, a paste that finds no field is
// handed back as a "pastedText" request.
EMSCRIPTEN_KEEPALIVE int ui_paste_text(const char* text) {
    wake();
    if (!text_editing() && g_input.empty()) return 0;
    InputEvent e{InputEvent::Paste};
    e.text = str(text);
    g_input.push_back(e);
    return 1;
}
// Copy / cut: the selected text of the field being edited ("" if none). Ctrl+X is Dear ImGui's
// own; for another cut (Cmd+X, the menu) the selection is deleted here.
EMSCRIPTEN_KEEPALIVE const char* ui_copy_text(int cut) {
    static std::string out;
    out.clear();
    ImGuiContext& g = *GImGui;
    if (!text_editing()) return "";
    const ImGuiInputTextState& st = g.InputTextState;
    int a = std::min(st.Stb.select_start, st.Stb.select_end), b = std::max(st.Stb.select_start, st.Stb.select_end);
    a = std::max(0, std::min(a, st.CurLenW)), b = std::max(0, std::min(b, st.CurLenW));
    if (a == b) return "";
    out.resize((size_t)(b - a) * 4 + 1);
    const int n = ImTextStrToUtf8(&out[0], (int)out.size(), st.TextW.Data + a, st.TextW.Data + b);
    out.resize((size_t)n);
    // the modifiers as Dear ImGui will see them when it gets to the keys queued so far
    bool down[512];
    std::memcpy(down, g.IO.KeysDown, sizeof down);
    for (const InputEvent& e : g_input)
        if (e.kind == InputEvent::Key) down[e.code] = e.down;
    const bool ctrl = down[GLFW_KEY_LEFT_CONTROL] || down[GLFW_KEY_RIGHT_CONTROL];
    const bool super = down[GLFW_KEY_LEFT_SUPER] || down[GLFW_KEY_RIGHT_SUPER];
    if (cut && !(ctrl && !super))
        for (bool d : {true, false}) {
            InputEvent e{InputEvent::Key};
            e.code = GLFW_KEY_DELETE, e.down = d;
            g_input.push_back(e);
        }
    wake();
    return out.c_str();
}

}  // extern "C"

namespace {
const char* get_clipboard(void*) { return ""; }   // Dear ImGui's own Ctrl+V: the paste event has typed it
void set_clipboard(void*, const char* text) { js_clipboard_write(text ? text : ""); }
}  // namespace

int main() {
    if (!glfwInit()) return 1;
    glfwWindowHint(GLFW_CLIENT_API, GLFW_OPENGL_ES_API);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 0);
    g_app.width = js_canvas_width(), g_app.height = js_canvas_height();
    g_window = glfwCreateWindow(g_app.width, g_app.height, "CNN Lens", nullptr, nullptr);
    if (!g_window) {   // no WebGL 2 context: the page says so in plain HTML (index.html)
        EM_ASM({ if (window.cnnlensFallback) window.cnnlensFallback(false, true); });
        return 1;
    }
    glfwMakeContextCurrent(g_window);
    js_mark("webgl");
    // installed before ImGui's, which chains to them (buttons, keys, characters: after, replacing them)
    glfwSetCursorPosCallback(g_window, on_cursor);
    glfwSetScrollCallback(g_window, on_scroll);
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
    st.Colors[ImGuiCol_NavHighlight] = ImVec4(1.0f, 0.75f, 0.16f, 0.0f);   // draw_focus_ring() draws it
    ImGui_ImplGlfw_InitForOpenGL(g_window, true);
    glfwSetMouseButtonCallback(g_window, on_button);
    glfwSetKeyCallback(g_window, on_key);
    glfwSetCharCallback(g_window, on_char);
    io.GetClipboardTextFn = get_clipboard;
    io.SetClipboardTextFn = set_clipboard;
    ImGui::GetCurrentContext()->TestEngineHookItems = true;   // the item hooks above
    ImGui_ImplOpenGL3_Init("#version 300 es");
    if (!gpu_init()) app_message("webgl", "WebGL2 shader setup failed: maps cannot be drawn");
    js_mark("shaders");

    EM_ASM({ if (Module.cnnlensUiReady) Module.cnnlensUiReady(); });
    emscripten_set_main_loop(frame, 0, true);
    return 0;
}
