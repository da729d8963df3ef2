// map.frag: a normalised single-channel map (R8 texture on unit 0, value in [0,1]) through a
// colormap; in overlay mode blended over the RGB image on unit 1 with alpha uAlpha (the
// image's UV equals the map's: both cover the network input). uMode: 0 map, 1 overlay.
precision mediump float;
uniform sampler2D Texture;   // the map (unit 0, bound by the ImGui backend)
uniform sampler2D uImage;    // the input image (unit 1)
uniform int uCmap;
uniform int uMode;
uniform float uAlpha;
in vec2 Frag_UV;
in vec4 Frag_Color;
layout (location = 0) out vec4 Out_Color;
void main() {
    float v = texture(Texture, Frag_UV.st).r;
    vec3 c = colormap(uCmap, v);
    if (uMode == 1) {
        vec3 img = texture(uImage, Frag_UV.st).rgb;
        c = mix(img, c, uAlpha);
    }
    Out_Color = vec4(c, 1.0) * Frag_Color;
}
