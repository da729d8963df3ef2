// gpu.cpp: see gpu.h.
#include "gpu.h"

#include <GLES3/gl3.h>

#include <cstdio>
#include <deque>
#include <string>

#include "shaders_embedded.h"   // generated from shaders/ by src/app/CMakeLists.txt

namespace {

struct MapParams {
    int cmap, mode;
    unsigned image;
    float alpha;
};

GLuint g_program = 0;
GLint g_loc_proj = -1, g_loc_tex = -1, g_loc_image = -1, g_loc_cmap = -1, g_loc_mode = -1, g_loc_alpha = -1;
std::deque<MapParams> g_params;   // pointers handed to draw callbacks stay valid until the next frame
GLuint g_ramp = 0;                // 256x1 ramp for colour bars

GLuint compile(GLenum type, const std::string& src) {
    GLuint s = glCreateShader(type);
    const char* p = src.c_str();
    glShaderSource(s, 1, &p, nullptr);
    glCompileShader(s);
    GLint ok = 0;
    glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
    if (!ok) {
        char log[2048];
        glGetShaderInfoLog(s, sizeof log, nullptr, log);
        std::fprintf(stderr, "cnnlens: shader compile error: %s\n", log);
        glDeleteShader(s);
        return 0;
    }
    return s;
}

// Runs inside ImGui_ImplOpenGL3_RenderDrawData: the backend has bound its VAO, blend state and
// the texture of each following command on unit 0; we swap the program and set our uniforms.
void map_callback(const ImDrawList*, const ImDrawCmd* cmd) {
    const MapParams& p = *(const MapParams*)cmd->UserCallbackData;
    const ImDrawData* dd = ImGui::GetDrawData();
    const float L = dd->DisplayPos.x, R = dd->DisplayPos.x + dd->DisplaySize.x;
    const float T = dd->DisplayPos.y, B = dd->DisplayPos.y + dd->DisplaySize.y;
    const float ortho[4][4] = {
        {2.0f / (R - L), 0.0f, 0.0f, 0.0f},
        {0.0f, 2.0f / (T - B), 0.0f, 0.0f},
        {0.0f, 0.0f, -1.0f, 0.0f},
        {(R + L) / (L - R), (T + B) / (B - T), 0.0f, 1.0f},
    };
    glUseProgram(g_program);
    glUniformMatrix4fv(g_loc_proj, 1, GL_FALSE, &ortho[0][0]);
    glUniform1i(g_loc_tex, 0);
    glUniform1i(g_loc_image, 1);
    glUniform1i(g_loc_cmap, p.cmap);
    glUniform1i(g_loc_mode, p.mode);
    glUniform1f(g_loc_alpha, p.alpha);
    glActiveTexture(GL_TEXTURE1);
    glBindTexture(GL_TEXTURE_2D, p.image);
    glActiveTexture(GL_TEXTURE0);
}

}  // namespace

bool gpu_init() {
    const std::string head = "#version 300 es\n";
    GLuint vs = compile(GL_VERTEX_SHADER, head + shader_map_vert);
    GLuint fs = compile(GL_FRAGMENT_SHADER, head + "precision mediump float;\n" + shader_colormap_glsl + shader_map_frag);
    if (!vs || !fs) return false;
    g_program = glCreateProgram();
    glAttachShader(g_program, vs);
    glAttachShader(g_program, fs);
    glLinkProgram(g_program);
    glDeleteShader(vs);
    glDeleteShader(fs);
    GLint ok = 0;
    glGetProgramiv(g_program, GL_LINK_STATUS, &ok);
    if (!ok) {
        char log[2048];
        glGetProgramInfoLog(g_program, sizeof log, nullptr, log);
        std::fprintf(stderr, "cnnlens: shader link error: %s\n", log);
        return false;
    }
    g_loc_proj = glGetUniformLocation(g_program, "ProjMtx");
    g_loc_tex = glGetUniformLocation(g_program, "Texture");
    g_loc_image = glGetUniformLocation(g_program, "uImage");
    g_loc_cmap = glGetUniformLocation(g_program, "uCmap");
    g_loc_mode = glGetUniformLocation(g_program, "uMode");
    g_loc_alpha = glGetUniformLocation(g_program, "uAlpha");
    uint8_t ramp[256];
    for (int i = 0; i < 256; i++) ramp[i] = (uint8_t)i;
    g_ramp = gpu_texture_r8(0, 256, 1, ramp, true);
    return true;
}

void gpu_new_frame() { g_params.clear(); }

static unsigned texture_upload(unsigned tex, int w, int h, GLenum internal, GLenum format, const void* data, bool linear) {
    if (!tex) glGenTextures(1, &tex);
    glBindTexture(GL_TEXTURE_2D, tex);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, linear ? GL_LINEAR : GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, linear ? GL_LINEAR : GL_NEAREST);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
    glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
    glTexImage2D(GL_TEXTURE_2D, 0, internal, w, h, 0, format, GL_UNSIGNED_BYTE, data);
    return tex;
}

unsigned gpu_texture_r8(unsigned tex, int w, int h, const uint8_t* data, bool linear) {
    return texture_upload(tex, w, h, GL_R8, GL_RED, data, linear);
}

unsigned gpu_texture_rgb(unsigned tex, int w, int h, const uint8_t* rgb) {
    return texture_upload(tex, w, h, GL_RGB8, GL_RGB, rgb, w >= 64 && h >= 64);
}

void gpu_texture_delete(unsigned& tex) {
    if (tex) glDeleteTextures(1, &tex);
    tex = 0;
}

void gpu_map_begin(ImDrawList* dl, int cmap, int mode, unsigned image, float alpha) {
    g_params.push_back({cmap, mode, image, alpha});
    dl->AddCallback(map_callback, &g_params.back());
}

void gpu_map_end(ImDrawList* dl) { dl->AddCallback(ImDrawCallback_ResetRenderState, nullptr); }

void gpu_map_image(unsigned map, ImVec2 size, int cmap, int mode, unsigned image, float alpha, ImVec2 uv0, ImVec2 uv1) {
    ImDrawList* dl = ImGui::GetWindowDrawList();
    gpu_map_begin(dl, cmap, mode, image, alpha);
    ImGui::Image(gpu_id(map), size, uv0, uv1);
    gpu_map_end(dl);
}

void gpu_colorbar(ImVec2 size, int cmap) { gpu_map_image(g_ramp, size, cmap); }
