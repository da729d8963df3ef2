// map.vert: ImGui's vertex layout (the OpenGL3 backend binds Position/UV/Color at locations 0/1/2),
// so a map is drawn as an ordinary ImGui::Image with this program swapped in by a draw callback.
precision highp float;
layout (location = 0) in vec2 Position;
layout (location = 1) in vec2 UV;
layout (location = 2) in vec4 Color;
uniform mat4 ProjMtx;
out vec2 Frag_UV;
out vec4 Frag_Color;
void main() {
    Frag_UV = UV;
    Frag_Color = Color;
    gl_Position = ProjMtx * vec4(Position.xy, 0, 1);
}
