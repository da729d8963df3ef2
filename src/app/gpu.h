// gpu.h: the app's WebGL2 side: textures for images and maps, and the colormap/overlay program
// of shaders/ (map.vert, colormap.glsl, map.frag) swapped into ImGui's renderer with draw
// callbacks, so a map is an R8 texture of normalised values and its colours come from the GPU.
//
//   gpu_map_begin(draw_list, cmap, mode, image, alpha);   // following images use the map program
//   draw_list->AddImage(map_texture, p0, p1, uv0, uv1);   // ... any number; no text in between
//   gpu_map_end(draw_list);                                // back to ImGui's own program
#pragma once
#include <cstdint>

#include "imgui.h"

enum GpuMapMode { GPU_MAP = 0, GPU_OVERLAY = 1 };   // map.frag uMode

bool gpu_init();                  // compiles the program; false (and a message on stderr) if it fails
void gpu_new_frame();             // drops last frame's callback parameters

// Creates (tex == 0) or refills a texture. R8 maps: linear = bilinear upsampling (heatmaps),
// otherwise nearest (feature maps show their pixels).
unsigned gpu_texture_r8(unsigned tex, int w, int h, const uint8_t* data, bool linear);
// RGB images: bilinear, except small ones (a 28x28 input) which show their pixels.
unsigned gpu_texture_rgb(unsigned tex, int w, int h, const uint8_t* rgb);
void gpu_texture_delete(unsigned& tex);

void gpu_map_begin(ImDrawList* dl, int cmap, int mode = GPU_MAP, unsigned image = 0, float alpha = 0.5f);
void gpu_map_end(ImDrawList* dl);

// One map as an ImGui item of the given size (an Image between begin/end).
void gpu_map_image(unsigned map, ImVec2 size, int cmap, int mode = GPU_MAP, unsigned image = 0, float alpha = 0.5f,
                   ImVec2 uv0 = ImVec2(0, 0), ImVec2 uv1 = ImVec2(1, 1));

// A horizontal colour bar of a colormap (0 left, 1 right).
void gpu_colorbar(ImVec2 size, int cmap);

inline ImTextureID gpu_id(unsigned tex) { return (ImTextureID)(intptr_t)tex; }
